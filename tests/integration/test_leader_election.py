"""Leader election on the real API server: two electors, one Lease, never two leaders.

Short real times (2 s lease, 0.5 s renewal) so that every test ends within a few seconds;
each elector runs ``LeaderElector.run`` in its own thread with its own ApiClient, as two
operator replicas would. The handover times measured are printed (``pytest -s``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from kubernetes import client, config

from infraagent.adapters.kube.lease import DEFAULT_LEASE_NAME, LeaderElector

LEASE = timedelta(seconds=2)
RENEW = timedelta(milliseconds=500)
SLACK = 0.5  # how much longer to wait before calling it a failure (busy CI machine)
LATENCY = 0.2  # what a few loopback requests and thread wake-ups may add to a bound


@dataclass
class Ledger:
    """What the leaders did, written by their callbacks."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    active: set[str] = field(default_factory=set)
    runs_started: dict[str, int] = field(default_factory=dict)
    overlaps: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    started_at: dict[str, float] = field(default_factory=dict)

    def started(self, who: str) -> None:
        with self.lock:
            if self.active:
                self.overlaps.append((who, frozenset(self.active)))
            self.active.add(who)
            self.runs_started[who] = self.runs_started.get(who, 0) + 1
            self.started_at[who] = time.monotonic()

    def stopped(self, who: str) -> None:
        with self.lock:
            self.active.discard(who)

    def leaders(self) -> set[str]:
        with self.lock:
            return set(self.active)


@dataclass
class Candidate:
    elector: LeaderElector
    stop: threading.Event
    thread: threading.Thread

    def halt(self) -> float:
        """Stop the loop, wait for it to end; the time the stop was asked for."""
        at = time.monotonic()
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()
        return at


@pytest.fixture
def api_clients(control_plane: Any) -> Iterator[dict[str, Any]]:
    """Two independent ApiClients (two replicas) for the admin kubeconfig."""
    clients = {
        who: config.new_client_from_config(config_file=str(control_plane.kubeconfig))
        for who in ("a", "b")
    }
    try:
        yield clients
    finally:
        for c in clients.values():
            c.close()


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    """The leaders' shared record; at the end, no moment may have had two leaders."""
    shared = Ledger()
    yield shared
    assert not shared.overlaps, f"two leaders at once: {shared.overlaps}"


@pytest.fixture
def start(
    api_clients: dict[str, Any], namespace: str, ledger: Ledger
) -> Iterator[Callable[..., Candidate]]:
    """Start an elector thread for identity ``a`` or ``b``; every thread is joined at the end."""
    started: list[Candidate] = []

    def _start(who: str, *, release_on_stop: bool = True) -> Candidate:
        elector = LeaderElector(
            api_clients[who], namespace, identity=who, lease_duration=LEASE, renew_every=RENEW
        )
        stop = threading.Event()
        thread = threading.Thread(
            target=elector.run,
            args=(lambda: ledger.started(who), lambda: ledger.stopped(who), stop),
            kwargs={"release_on_stop": release_on_stop},
            name=f"elector-{who}",
            daemon=True,
        )
        candidate = Candidate(elector, stop, thread)
        started.append(candidate)
        thread.start()
        return candidate

    try:
        yield _start
    finally:
        for candidate in started:
            candidate.stop.set()
        for candidate in started:
            candidate.thread.join(timeout=10)


def lease_spec(kube_api: Any, namespace: str) -> dict[str, Any]:
    raw = client.CoordinationV1Api(kube_api).read_namespaced_lease(
        DEFAULT_LEASE_NAME, namespace, _preload_content=False
    )
    spec: dict[str, Any] = json.loads(raw.data)["spec"]
    return spec


def wait_for(predicate: Callable[[], bool], timeout: float) -> float:
    """Poll until ``predicate`` holds; the seconds it took. Fails after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(0.02)
    pytest.fail(f"not within {timeout:.1f}s")


def test_exactly_one_holds_the_lease(
    start: Callable[..., Candidate], ledger: Ledger, kube_api: Any, namespace: str
) -> None:
    start("a"), start("b")
    wait_for(lambda: len(ledger.leaders()) == 1, LEASE.total_seconds())
    (leader,) = ledger.leaders()
    samples = 0
    for _ in range(25):  # about 3 s: several renewals and retries of both
        spec = lease_spec(kube_api, namespace)
        assert ledger.leaders() == {leader}
        assert spec["holderIdentity"] == leader
        samples += 1
        time.sleep(0.12)
    assert samples == 25
    assert spec["leaseTransitions"] == 0  # created once, renewed ever since, never lost
    assert spec["leaseDurationSeconds"] == 2
    assert ledger.runs_started == {leader: 1}


def test_stopping_the_leader_hands_over_at_once(
    start: Callable[..., Candidate], ledger: Ledger, kube_api: Any, namespace: str
) -> None:
    candidates = {"a": start("a")}
    wait_for(lambda: ledger.leaders() == {"a"}, LEASE.total_seconds())
    candidates["b"] = start("b")
    time.sleep(RENEW.total_seconds() * 2)  # b has tried and lost at least once
    assert ledger.leaders() == {"a"}

    stopped_at = candidates["a"].halt()  # graceful: callbacks, then release
    wait_for(lambda: ledger.leaders() == {"b"}, LEASE.total_seconds())
    handover = ledger.started_at["b"] - stopped_at
    print(f"\nhandover after a graceful stop: {handover:.2f}s (lease {LEASE.total_seconds()}s)")
    assert handover < LEASE.total_seconds()
    spec = lease_spec(kube_api, namespace)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert ledger.runs_started == {"a": 1, "b": 1}


def test_a_killed_leader_is_replaced_after_expiry(
    start: Callable[..., Candidate], ledger: Ledger, kube_api: Any, namespace: str
) -> None:
    candidates = {"a": start("a", release_on_stop=False)}
    wait_for(lambda: ledger.leaders() == {"a"}, LEASE.total_seconds())
    candidates["b"] = start("b")
    time.sleep(RENEW.total_seconds() * 2)

    killed_at = candidates["a"].halt()  # no release: the Lease still names a
    assert lease_spec(kube_api, namespace)["holderIdentity"] == "a"
    limit = (LEASE + RENEW).total_seconds()
    wait_for(lambda: ledger.leaders() == {"b"}, limit + SLACK)
    handover = ledger.started_at["b"] - killed_at
    print(f"\nhandover after a kill: {handover:.2f}s (limit {limit}s)")
    # Not before a's last claim ran out (that renewal came at most one interval, plus one
    # request, before the kill); then within one more interval, plus request latency.
    assert (LEASE - 2 * RENEW).total_seconds() <= handover <= limit + LATENCY
    spec = lease_spec(kube_api, namespace)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    assert ledger.runs_started == {"a": 1, "b": 1}


def test_release_only_gives_up_my_own_lease(
    api_clients: dict[str, Any], kube_api: Any, namespace: str
) -> None:
    a, b = (
        LeaderElector(
            api_clients[w], namespace, identity=w, lease_duration=LEASE, renew_every=RENEW
        )
        for w in ("a", "b")
    )
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert not b.release()
    assert lease_spec(kube_api, namespace)["holderIdentity"] == "a"
    assert a.release()
    assert "holderIdentity" not in lease_spec(kube_api, namespace)
    assert b.try_acquire_or_renew()
    assert not a.try_acquire_or_renew()
    assert lease_spec(kube_api, namespace)["leaseTransitions"] == 1
