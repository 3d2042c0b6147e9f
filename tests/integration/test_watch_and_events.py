"""``Watcher`` and ``record_event`` against the real kube-apiserver.

A watch in a thread sees a ConfigMap created, updated and deleted, in that order; a watch
told 410 Gone re-lists (the 410 injected: see ``_GoneOnce``); an Event
recorded about an object is what ``kubectl get events`` shows.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.events import record_event
from infraagent.adapters.kube.watch import Watcher, WatchEvent

from .conftest import ControlPlane

WAIT = 20.0


@pytest.fixture
def kube(control_plane: ControlPlane) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


class _Running:
    """A watcher's events, collected by a thread into a queue."""

    def __init__(self, watcher: Watcher) -> None:
        self.stop = threading.Event()
        self.events: queue.Queue[WatchEvent | BaseException] = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(watcher,), daemon=True)
        self._thread.start()

    def _run(self, watcher: Watcher) -> None:
        try:
            for event in watcher.events(self.stop):
                self.events.put(event)
        except BaseException as err:  # handed to the test
            self.events.put(err)

    def next(self, timeout: float = WAIT) -> WatchEvent:
        item = self.events.get(timeout=timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    def until(self, wanted: str, name: str) -> list[WatchEvent]:
        """Events up to and including ``wanted`` for ``name`` (bounded wait)."""
        seen: list[WatchEvent] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            event = self.next(max(0.1, deadline - time.monotonic()))
            seen.append(event)
            if event.type == wanted and event.object["metadata"].get("name") == name:
                return seen
        pytest.fail(f"no {wanted} {name} within {WAIT}s; saw {[e.type for e in seen]}")

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=WAIT)
        assert not self._thread.is_alive()


def _config_map(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def _names(events: list[WatchEvent]) -> list[tuple[str, Any]]:
    return [(e.type, e.object.get("metadata", {}).get("name")) for e in events]


def test_watch_sees_create_update_delete_in_order(kube: KubeClient, namespace: str) -> None:
    kube.apply(_config_map(namespace, "before", mode="old"))
    running = _Running(Watcher(kube, "v1", "ConfigMap", namespace, poll_seconds=1.0))
    try:
        first = running.until("ADDED", "before")  # the initial list
        kube.apply(_config_map(namespace, "settings", mode="calm"))
        kube.apply(_config_map(namespace, "settings", mode="busy"))
        kube.delete("v1", "ConfigMap", "settings", namespace)
        seen = running.until("DELETED", "settings")
    finally:
        running.close()
    assert ("ADDED", "before") in _names(first)
    ours = [e for e in seen if e.object["metadata"]["name"] == "settings"]
    assert [e.type for e in ours] == ["ADDED", "MODIFIED", "DELETED"]
    assert ours[1].object["data"] == {"mode": "busy"}


def test_watch_resumes_after_the_server_ends_it(kube: KubeClient, namespace: str) -> None:
    watcher = Watcher(kube, "v1", "ConfigMap", namespace, timeout_seconds=1, poll_seconds=5.0)
    running = _Running(watcher)
    try:
        time.sleep(2.5)  # at least one server-side timeout: the watch is reopened
        kube.apply(_config_map(namespace, "later", mode="x"))
        seen = running.until("ADDED", "later")
    finally:
        running.close()
    assert _names(seen) == [("ADDED", "later")]


class _FakeStream:
    """A watch response whose only line is the given event (what ``iter_resp_lines`` reads)."""

    def __init__(self, event: dict[str, Any]) -> None:
        self._data = json.dumps(event).encode() + b"\n"

    def stream(self, amt: Any = None, decode_content: bool = False) -> Iterator[bytes]:
        yield self._data

    def release_conn(self) -> None:
        pass


class _GoneOnce(Watcher):
    """A real watcher whose first watch answers ERROR 410 (after ``before_gone`` ran).

    A fresh API server replays any old resourceVersion from its watch cache and etcd is
    never compacted within a test, so the server cannot be made to send 410 here: the 410
    is injected, and the re-list and the watch after it are real.
    """

    def __init__(self, *args: Any, before_gone: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._before_gone = before_gone
        self._gone_sent = False

    def _open(self, resource_version: str) -> Any:
        if self._gone_sent:
            return super()._open(resource_version)
        self._gone_sent = True
        self._before_gone()
        status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
        return _FakeStream({"type": "ERROR", "object": status})


def test_410_relists_and_reports_what_vanished(kube: KubeClient, namespace: str) -> None:
    kube.apply(_config_map(namespace, "present", mode="x"))
    kube.apply(_config_map(namespace, "vanishing", mode="x"))
    watcher = _GoneOnce(
        kube,
        "v1",
        "ConfigMap",
        namespace,
        poll_seconds=1.0,
        before_gone=lambda: kube.delete("v1", "ConfigMap", "vanishing", namespace),
    )
    running = _Running(watcher)
    try:
        initial = [running.next(), running.next()]
        marker = running.next()
        relisted = running.until("DELETED", "vanishing")
        kube.apply(_config_map(namespace, "afterwards", mode="y"))  # the watch goes on
        later = running.until("ADDED", "afterwards")
    finally:
        running.close()
    assert sorted(_names(initial)) == [("ADDED", "present"), ("ADDED", "vanishing")]
    assert marker.type == "RELISTED"
    assert marker.object["metadata"]["resourceVersion"]
    assert _names(relisted) == [("ADDED", "present"), ("DELETED", "vanishing")]
    assert _names(later) == [("ADDED", "afterwards")]


def test_record_event_is_visible_to_kubectl(
    kube: KubeClient, namespace: str, control_plane: ControlPlane
) -> None:
    involved = kube.apply(_config_map(namespace, "subject", mode="x"))
    created = record_event(
        kube,
        involved,
        "AgentRunStarted",
        "run started; token=ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "Normal",
        now=datetime.now(UTC),
    )
    assert created is not None
    assert created["regarding"]["uid"] == involved["metadata"]["uid"]
    shown = control_plane.kubectl(
        "get", "events", "-n", namespace, "-o", "custom-columns=R:.reason,M:.message"
    ).stdout
    assert "AgentRunStarted" in shown
    assert "run started" in shown
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in shown


def test_record_event_forbidden_returns_none(kube: KubeClient, namespace: str) -> None:
    involved = kube.apply(_config_map(namespace, "subject", mode="x"))
    with kube.impersonating("system:serviceaccount:nowhere:nobody") as nobody:
        result = record_event(nobody, involved, "Denied", "m", "Warning", now=datetime.now(UTC))
    assert result is None
