"""The scheduler's rules with an injected clock: cadence, jitter, single flight, downtime.

Limits, paused agents and invalid schedules are in ``test_scheduler_limits.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infraagent.operator.scheduler import Limits, RequestResult, Scheduler
from infraagent.ports import RunOutcome, RunRequest

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
UNLIMITED = Limits(max_concurrent=1000, per_agent_hourly=1000, cluster_hourly=10_000)


def agent(
    name: str = "watchman",
    namespace: str = "team",
    *,
    cron: str | None = "*/1 * * * *",
    interval: str | None = None,
    timezone: str = "UTC",
    paused: bool = False,
    status: Mapping[str, Any] | None = None,
    generation: int = 1,
    webhook: bool = False,
) -> dict[str, Any]:
    """An InfraAgent as the API server returns it."""
    schedule: dict[str, Any] = {"timezone": timezone}
    if cron is not None:
        schedule["cron"] = cron
    if interval is not None:
        schedule["interval"] = interval
    if webhook:
        schedule["triggers"] = [{"type": "webhook", "source": "alertmanager"}]
    obj: dict[str, Any] = {
        "apiVersion": "core.infraagent.io/v1alpha1",
        "kind": "InfraAgent",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": generation,
            "uid": f"uid-{name}",
            "resourceVersion": "7",
        },
        "spec": {
            "description": "Watches the cluster.",
            "schedule": schedule,
            "model": {"tier": "fast"},
            "skills": [{"name": "cluster-health"}],
            "guardrails": {"autonomy": "observe"},
            "environmentRef": "dev-lab",
            "paused": paused,
        },
    }
    if status is not None:
        obj["status"] = dict(status)
    return obj


@dataclass
class Sim:
    """Drives a scheduler second by second, as the loop would, with runs of fixed length."""

    scheduler: Scheduler
    now: datetime = T0
    run_for: timedelta = timedelta(seconds=5)
    phase: str = "Succeeded"
    ends: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)
    log: list[tuple[datetime, RunRequest]] = field(default_factory=list)
    most_in_flight: int = 0

    def tick(self) -> list[RunRequest]:
        for key, (end, name) in list(self.ends.items()):
            if end <= self.now:
                del self.ends[key]
                self.scheduler.finished(key, RunOutcome(name, self.phase), self.now)
        requests = self.scheduler.due(self.now)
        for request in requests:
            key = (request.namespace, request.agent)
            assert key not in self.ends, f"{key} started while its run was in flight"
            name = f"{request.agent}-{len(self.log) + 1}"
            self.scheduler.started(key, name, self.now)
            self.ends[key] = (self.now + self.run_for, name)
            self.log.append((self.now, request))
        self.most_in_flight = max(self.most_in_flight, len(self.ends))
        return requests

    def run_until(self, until: datetime, every: timedelta = timedelta(seconds=1)) -> None:
        while self.now < until:
            self.now += every
            self.tick()

    def starts(self, name: str | None = None) -> list[datetime]:
        return [when for when, req in self.log if name is None or req.agent == name]


def test_every_minute_cron_runs_once_a_minute_for_an_hour_with_exact_status() -> None:
    scheduler = Scheduler(UNLIMITED)
    key = scheduler.upsert(agent(), T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(hours=1, seconds=30))

    starts = sim.starts()
    assert len(starts) == 60
    assert [s.replace(second=0) for s in starts] == [
        T0 + timedelta(minutes=m) for m in range(1, 61)
    ]
    for started, request in sim.log:
        assert request.trigger == "scheduled"
        assert request.scheduled_time is not None
        assert started == request.scheduled_time  # due exactly at the jittered time, not before
    status = scheduler.status(key)
    last_start, _ = sim.log[-1]
    assert status["runCount"] == 60
    assert status["lastRunTime"] == last_start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["lastRunName"] == "watchman-60"
    assert status["consecutiveFailures"] == 0
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 1
    next_run = datetime.fromisoformat(status["nextRunTime"])
    assert T0 + timedelta(minutes=61) <= next_run <= T0 + timedelta(minutes=61, seconds=6)
    [ready] = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Scheduled")
    assert ready["message"] == f"next run at {status['nextRunTime']}"


def test_jitter_really_delays_runs_and_stays_within_its_bound() -> None:
    scheduler = Scheduler(UNLIMITED)
    for n in range(40):
        scheduler.upsert(agent(f"agent-{n}"), T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(minutes=2, seconds=59))
    offsets = [started - started.replace(second=0) for started, _ in sim.log]
    assert len(offsets) == 80
    # 10 % of a one-minute period: at most 6 s after the fire time, and really spread
    assert max(offsets) <= timedelta(seconds=6)
    assert len(set(offsets)) >= 4
    assert sum(1 for o in offsets if o > timedelta(0)) >= 40


def test_jitter_is_capped_and_the_same_fire_always_gets_the_same_offset() -> None:
    hourly = agent("nightly", cron="0 * * * *")
    first, second = Scheduler(), Scheduler()
    first.upsert(hourly, T0)
    second.upsert(hourly, T0 + timedelta(minutes=20))
    assert (
        first.status(("team", "nightly"))["nextRunTime"]
        == second.status(("team", "nightly"))["nextRunTime"]
    )
    offsets = set()
    for n in range(200):
        scheduler = Scheduler()
        key = scheduler.upsert(agent(f"a{n}", cron="0 * * * *"), T0)
        next_run = datetime.fromisoformat(scheduler.status(key)["nextRunTime"])
        offsets.add(next_run - (T0 + timedelta(hours=1)))
    # 10 % of an hour is 6 minutes, capped at 30 s
    assert max(offsets) <= timedelta(seconds=30)
    assert max(offsets) >= timedelta(seconds=20)
    assert min(offsets) >= timedelta(0)


def test_a_run_longer_than_the_period_never_overlaps_and_runs_at_the_next_fire() -> None:
    scheduler = Scheduler(UNLIMITED)
    key = scheduler.upsert(agent(), T0)
    sim = Sim(scheduler, run_for=timedelta(seconds=90))
    sim.run_until(T0 + timedelta(hours=1, seconds=30))

    starts = sim.starts()
    # each run ends 90 s after it starts: the fire during it is skipped, the next one runs
    assert [s.replace(second=0) for s in starts] == [
        T0 + timedelta(minutes=m) for m in range(1, 61, 2)
    ]
    for earlier, later in itertools.pairwise(starts):
        assert later >= earlier + timedelta(seconds=90)
    status = scheduler.status(key)
    assert status["runCount"] == 30
    assert status["phase"] == "Running"
    sim.run_until(sim.now + timedelta(seconds=10))  # the run of 12:59 is over; 13:00 was skipped
    ready = scheduler.status(key)["conditions"][0]
    assert ready["reason"] == "RunSkipped"
    assert ready["message"].startswith("the run planned for 2026-11-27T13:00:0")
    assert "was skipped: the previous run was still going; next run at" in ready["message"]


def test_a_ten_minute_outage_yields_exactly_one_run_then_the_usual_cadence() -> None:
    scheduler = Scheduler(UNLIMITED)
    scheduler.upsert(agent(), T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(minutes=2, seconds=30))
    assert len(sim.log) == 2
    sim.now += timedelta(minutes=10)  # the process was stopped: no ticks at all
    sim.tick()
    sim.run_until(sim.now + timedelta(seconds=25))
    assert len(sim.log) == 3
    late_start, late = sim.log[2]
    assert late.scheduled_time is not None and late.scheduled_time < late_start
    sim.run_until(T0 + timedelta(minutes=15, seconds=30))
    assert [s.replace(second=0) for s in sim.starts()[3:]] == [
        T0 + timedelta(minutes=13),
        T0 + timedelta(minutes=14),
        T0 + timedelta(minutes=15),
    ]


def test_after_a_restart_a_missed_schedule_runs_once_and_the_counters_continue() -> None:
    previous = {
        "lastRunTime": "2026-11-27T12:00:03Z",
        "runCount": 41,
        "consecutiveFailures": 2,
        "lastRunName": "watchman-41",
    }
    restarted = T0 + timedelta(minutes=10, seconds=30)
    scheduler = Scheduler(UNLIMITED)
    key = scheduler.upsert(agent(status=previous), restarted)
    sim = Sim(scheduler, now=restarted, phase="Failed")
    sim.tick()
    [(_, request)] = sim.log
    assert request.scheduled_time is not None
    assert T0 + timedelta(minutes=10) <= request.scheduled_time <= restarted  # latest missed
    sim.run_until(restarted + timedelta(seconds=29))
    assert len(sim.log) == 1
    status = scheduler.status(key)
    assert (status["runCount"], status["consecutiveFailures"]) == (42, 3)
    sim.phase = "Succeeded"
    sim.run_until(T0 + timedelta(minutes=11, seconds=59))
    assert len(sim.log) == 2
    assert scheduler.status(key)["runCount"] == 43
    assert scheduler.status(key)["consecutiveFailures"] == 0


def test_a_restart_before_the_next_fire_does_not_run_early() -> None:
    previous = {"lastRunTime": "2026-11-27T12:00:02Z", "runCount": 3}
    scheduler = Scheduler(UNLIMITED)
    key = scheduler.upsert(agent(status=previous), T0 + timedelta(seconds=30))
    assert scheduler.due(T0 + timedelta(seconds=30)) == []
    assert scheduler.status(key)["nextRunTime"].startswith("2026-11-27T12:01:0")


def test_an_interval_agent_runs_at_once_then_every_interval_and_once_after_an_outage() -> None:
    scheduler = Scheduler(UNLIMITED)
    scheduler.upsert(agent(cron=None, interval="5m"), T0)
    sim = Sim(scheduler)
    sim.tick()
    sim.run_until(T0 + timedelta(minutes=16))
    assert len(sim.log) == 4  # 12:00, 12:05, 12:10, 12:15, each plus at most 30 s of jitter
    for k, started in enumerate(sim.starts()):
        fire = T0 + timedelta(minutes=5 * k)
        assert fire <= started <= fire + timedelta(seconds=30)
    sim.now += timedelta(hours=1)
    sim.tick()
    sim.run_until(sim.now + timedelta(minutes=4))
    assert len(sim.log) == 5


def test_cron_is_read_in_the_agents_time_zone() -> None:
    scheduler = Scheduler()
    key = scheduler.upsert(agent(cron="0 9 * * *", timezone="Europe/Berlin"), T0)
    # 09:00 in Berlin in November is 08:00 UTC, plus at most 30 s of jitter
    assert scheduler.status(key)["nextRunTime"].startswith("2026-11-28T08:00:")


def test_manual_and_webhook_runs_count_like_scheduled_ones_and_never_overlap() -> None:
    scheduler = Scheduler(UNLIMITED)
    key = scheduler.upsert(agent(cron=None, webhook=True), T0)
    assert scheduler.status(key)["conditions"][0]["reason"] == "TriggerOnly"
    assert scheduler.status(key)["nextRunTime"] is None
    sim = Sim(scheduler, run_for=timedelta(seconds=60))
    assert scheduler.request(key, "manual", T0) is RequestResult.ACCEPTED
    assert scheduler.request(key, "webhook", T0) is RequestResult.ALREADY_RUNNING
    sim.tick()
    assert scheduler.request(key, "webhook", T0 + timedelta(seconds=5)) is (
        RequestResult.ALREADY_RUNNING
    )
    sim.run_until(T0 + timedelta(seconds=61))
    assert scheduler.request(key, "webhook", sim.now) is RequestResult.ACCEPTED
    sim.tick()
    assert [request.trigger for _, request in sim.log] == ["manual", "webhook"]
    assert sim.log[0][1].scheduled_time is None
    assert sim.log[0][1].requested_time == T0
    status = scheduler.status(key)
    assert (status["runCount"], status["phase"]) == (2, "Running")
    assert status["conditions"][0]["message"] == ("a webhook run started at 2026-11-27T12:01:01Z")
    assert scheduler.request(("team", "nobody"), "manual", T0) is RequestResult.UNKNOWN


def test_an_unchanged_condition_keeps_its_transition_time() -> None:
    scheduler = Scheduler(UNLIMITED)
    key = scheduler.upsert(agent(cron=None, webhook=True), T0)
    first = scheduler.status(key)["conditions"][0]["lastTransitionTime"]
    scheduler.upsert(agent(cron=None, webhook=True, generation=2), T0 + timedelta(minutes=5))
    status = scheduler.status(key)
    assert status["observedGeneration"] == 2
    assert status["conditions"][0]["lastTransitionTime"] == first == "2026-11-27T12:00:00Z"
