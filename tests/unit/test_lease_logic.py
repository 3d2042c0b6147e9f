"""Leader election without a server: the decision table, the JSON form, the elector's loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infraagent.adapters.kube import lease as lease_mod
from infraagent.adapters.kube.lease import (
    Action,
    LeaderElector,
    LeaseSpec,
    decide,
    release_spec,
    spec_from_json,
    spec_to_json,
)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
D = timedelta(seconds=15)


def s(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def held(holder: str | None, renewed: float | None, duration: int | None = 15) -> LeaseSpec:
    at = None if renewed is None else s(renewed)
    return LeaseSpec(holder, at, at, duration, transitions=3)


# (case, current, observed_at (seconds from NOW), action, transitions written)
TABLE: list[tuple[str, LeaseSpec | None, float | None, Action, int | None]] = [
    ("absent: create", None, None, Action.ACQUIRE, 0),
    ("free (released)", held(None, None), None, Action.ACQUIRE, 4),
    ("free (empty holder)", held("", -1), None, Action.ACQUIRE, 4),
    ("mine, fresh", held("a", -1), None, Action.RENEW, 3),
    ("mine, expired: nobody took it", held("a", -100), None, Action.RENEW, 3),
    ("other's, fresh", held("b", -1), None, Action.WAIT, None),
    ("other's, one tick before expiry", held("b", -14.999), None, Action.WAIT, None),
    ("other's, expired exactly now", held("b", -15), None, Action.ACQUIRE, 4),
    ("other's, expired", held("b", -60), None, Action.ACQUIRE, 4),
    ("other's, its own longer duration", held("b", -20, 30), None, Action.WAIT, None),
    ("other's, its own shorter duration", held("b", -6, 5), None, Action.ACQUIRE, 4),
    ("other's, no duration: mine applies", held("b", -10, None), None, Action.WAIT, None),
    ("other's, never renewed", held("b", None), None, Action.ACQUIRE, 4),
    ("skew +: renewTime a little ahead", held("b", 10), None, Action.WAIT, None),
    ("skew +: renewTime implausibly ahead", held("b", 3600), None, Action.ACQUIRE, 4),
    ("skew +: implausible, but seen renewing", held("b", 3600), -2, Action.WAIT, None),
    ("skew -: renewTime looks old", held("b", -20), None, Action.ACQUIRE, 4),
    ("skew -: looks old, but seen renewing", held("b", -20), -2, Action.WAIT, None),
    ("seen long ago, and old", held("b", -20), -16, Action.ACQUIRE, 4),
]


@pytest.mark.parametrize(("case", "current", "seen", "action", "transitions"), TABLE)
def test_decision_table(
    case: str,
    current: LeaseSpec | None,
    seen: float | None,
    action: Action,
    transitions: int | None,
) -> None:
    decision = decide(current, "a", NOW, D, None if seen is None else s(seen))
    assert decision.action is action, case
    if action is Action.WAIT:
        assert decision.spec is None
        return
    assert decision.spec is not None
    assert decision.spec.holder == "a"
    assert decision.spec.renew_time == NOW
    assert decision.spec.duration_seconds == 15
    assert decision.spec.transitions == transitions
    if action is Action.ACQUIRE:
        assert decision.spec.acquire_time == NOW
    else:  # a renewal keeps the time the Lease was acquired
        assert current is not None
        assert decision.spec.acquire_time == current.acquire_time


def test_transitions_count_each_change_of_holder() -> None:
    spec = decide(None, "a", NOW, D).spec
    for t, who in enumerate(["a", "b", "b", "a", "a", "b"]):
        assert spec is not None
        now = s(100 * (t + 1))  # every time, the previous claim has long expired
        spec = decide(spec, who, now, D).spec
    assert spec is not None
    assert spec.holder == "b"
    assert spec.transitions == 3  # a->b, b->a, a->b
    released = release_spec(spec)
    assert decide(released, "b", s(1000), D).spec == LeaseSpec("b", s(1000), s(1000), 15, 4)


def test_release_clears_holder_and_times_keeps_the_count() -> None:
    released = release_spec(held("a", -1))
    assert released == LeaseSpec(None, None, None, 15, 3)
    assert spec_to_json(released) == {"leaseTransitions": 3, "leaseDurationSeconds": 15}


def test_durations_are_whole_seconds() -> None:
    with pytest.raises(ValueError, match="whole number"):
        decide(None, "a", NOW, timedelta(seconds=1.5))


def test_json_round_trip_uses_microtime() -> None:
    spec = LeaseSpec("a", s(0.25), s(1.5), 2, 7)
    raw = spec_to_json(spec)
    assert raw == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 2,
        "acquireTime": "2026-11-27T12:00:00.250000Z",
        "renewTime": "2026-11-27T12:00:01.500000Z",
        "leaseTransitions": 7,
    }
    assert spec_from_json(raw) == spec
    assert spec_from_json({}) == LeaseSpec()


# --------------------------------------------------------------------------- the loop


class FakeClock:
    def __init__(self) -> None:
        self.t = NOW

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


class FakeApi:
    """A Lease store with resourceVersions; ``down`` makes every call fail."""

    name = "infraagent-operator"

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise OSError("connection refused")

    def read(self) -> dict[str, Any] | None:
        self._check()
        return None if self.lease is None else dict(self.lease)

    def create(self, spec: LeaseSpec) -> None:
        self._check()
        self.version += 1
        self.lease = {
            "metadata": {"resourceVersion": str(self.version)},
            "spec": spec_to_json(spec),
        }

    def replace(self, lease: dict[str, Any], spec: LeaseSpec) -> None:
        self._check()
        assert self.lease is not None
        if lease["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            raise lease_mod._Conflict("stale")
        self.create(spec)

    def holder(self) -> str | None:
        return None if self.lease is None else spec_from_json(self.lease["spec"]).holder


def elector(api: FakeApi, clock: FakeClock, identity: str = "a") -> LeaderElector:
    e = LeaderElector(
        object(),
        "ns",
        identity=identity,
        lease_duration=timedelta(seconds=3),
        renew_every=timedelta(seconds=1),
        clock=clock,
        sleep=clock.sleep,
    )
    e._api = api  # type: ignore[assignment]
    return e


def test_two_electors_one_leader_and_release_hands_over() -> None:
    api, clock = FakeApi(), FakeClock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.sleep(2)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert not b.release()  # not b's to release
    assert a.release()
    assert b.try_acquire_or_renew()
    assert api.holder() == "b"
    assert not a.try_acquire_or_renew()


def test_a_stale_write_loses_the_race() -> None:
    api, clock = FakeApi(), FakeClock()
    a = elector(api, clock, "a")
    assert a.try_acquire_or_renew()
    stale = api.read()
    assert stale is not None
    assert a.try_acquire_or_renew()  # the Lease moved on
    with pytest.raises(lease_mod._Conflict):
        api.replace(stale, LeaseSpec("b", NOW, NOW, 3, 1))


def test_leader_steps_down_before_its_lease_can_expire() -> None:
    api, clock = FakeApi(), FakeClock()
    a = elector(api, clock)
    events: list[tuple[str, float]] = []
    stop = threading.Event()

    def started() -> None:
        events.append(("started", (clock.t - NOW).total_seconds()))
        api.down = True  # from now on every renewal fails

    def stopped() -> None:
        events.append(("stopped", (clock.t - NOW).total_seconds()))
        stop.set()

    a.run(started, stopped, stop)
    assert events == [("started", 0), ("stopped", 2)]  # deadline 2 s < lease duration 3 s


def test_leader_steps_down_when_another_holds_the_lease() -> None:
    api, clock = FakeApi(), FakeClock()
    a = elector(api, clock)
    events: list[str] = []
    stop = threading.Event()

    def started() -> None:
        events.append("started")
        api.create(LeaseSpec("b", NOW, NOW, 3, 1))  # someone overwrote it

    def stopped() -> None:
        events.append("stopped")
        stop.set()

    a.run(started, stopped, stop)
    assert events == ["started", "stopped"]
    assert api.holder() == "b"  # release leaves another's Lease alone


def test_stop_calls_back_then_releases() -> None:
    api, clock = FakeApi(), FakeClock()
    a = elector(api, clock)
    stop = threading.Event()
    seen_at_stop: list[str | None] = []
    a.run(stop.set, lambda: seen_at_stop.append(api.holder()), stop)
    assert seen_at_stop == ["a"]  # still held while current runs are wound down
    assert api.holder() is None


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="renew_every"):
        LeaderElector(object(), "ns", identity="a", renew_every=timedelta(seconds=12))
    with pytest.raises(ValueError, match="whole number"):
        LeaderElector(object(), "ns", identity="a", lease_duration=timedelta(seconds=2.5))
