"""The scheduler's limits hold for every trigger; paused and invalid agents start nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infraagent.operator.scheduler import Limits, RequestResult, Scheduler
from tests.unit.test_scheduler import T0, Sim, agent


def test_the_concurrency_limit_holds_runs_back_and_their_lag_shows_the_wait() -> None:
    scheduler = Scheduler(Limits(max_concurrent=10))
    for n in range(15):
        scheduler.upsert(agent(f"a{n:02}"), T0)
    sim = Sim(scheduler, run_for=timedelta(seconds=20))
    sim.run_until(T0 + timedelta(minutes=1, seconds=59))
    assert len(sim.log) == 15
    assert sim.most_in_flight == 10
    first_ten, rest = sim.log[:10], sim.log[10:]
    for started, request in first_ten:
        assert started == request.scheduled_time
    for started, request in rest:
        assert request.scheduled_time is not None
        assert started - request.scheduled_time >= timedelta(seconds=14)  # waited for a slot
        assert scheduler.last_start_held((request.namespace, request.agent))
    assert not scheduler.last_start_held((first_ten[0][1].namespace, first_ten[0][1].agent))
    # held runs start oldest planned first
    assert [r.scheduled_time for _, r in rest] == sorted(r.scheduled_time for _, r in rest)  # type: ignore[type-var]


@pytest.mark.parametrize("trigger", ["manual", "webhook"])
def test_the_concurrency_limit_holds_for_manual_and_webhook_runs(trigger: str) -> None:
    scheduler = Scheduler(Limits(max_concurrent=3))
    keys = [scheduler.upsert(agent(f"a{n}", cron=None, webhook=True), T0) for n in range(5)]
    for key in keys:
        assert scheduler.request(key, trigger, T0) is RequestResult.ACCEPTED
    sim = Sim(scheduler, now=T0, run_for=timedelta(seconds=30))
    assert len(sim.tick()) == 3
    sim.run_until(T0 + timedelta(seconds=29))
    assert len(sim.log) == 3
    sim.run_until(T0 + timedelta(seconds=30))
    assert len(sim.log) == 5
    assert sim.most_in_flight == 3
    assert {r.trigger for _, r in sim.log} == {trigger}


def test_scheduled_manual_and_webhook_runs_share_one_concurrency_limit() -> None:
    scheduler = Scheduler(Limits(max_concurrent=2))
    scheduler.upsert(agent("cron-a"), T0)
    scheduler.upsert(agent("cron-b"), T0)
    hooked = scheduler.upsert(agent("hooked", cron=None, webhook=True), T0)
    manual = scheduler.upsert(agent("manual", cron=None, webhook=True), T0)
    sim = Sim(scheduler, run_for=timedelta(seconds=50))
    sim.run_until(T0 + timedelta(minutes=1, seconds=10))
    assert len(sim.ends) == 2
    assert scheduler.request(hooked, "webhook", sim.now) is RequestResult.ACCEPTED
    assert scheduler.request(manual, "manual", sim.now) is RequestResult.ACCEPTED
    sim.run_until(T0 + timedelta(minutes=3))
    assert sim.most_in_flight == 2
    assert {r.trigger for _, r in sim.log} == {"scheduled", "manual", "webhook"}


def test_the_per_agent_hourly_limit_skips_scheduled_fires_and_says_why() -> None:
    scheduler = Scheduler()  # the original's defaults: 30 runs per agent per hour
    key = scheduler.upsert(agent(), T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(hours=1, seconds=30))
    assert len(sim.log) == 30
    assert sim.starts()[-1] < T0 + timedelta(minutes=31)
    ready = scheduler.status(key)["conditions"][0]
    assert ready["reason"] == "RunSkipped"
    assert "the agent's limit of 30 runs per hour is reached" in ready["message"]
    # the window slides: an hour after the first run, runs resume
    sim.run_until(T0 + timedelta(hours=1, minutes=1, seconds=30))
    assert len(sim.log) == 31
    assert sim.starts()[-1] >= T0 + timedelta(hours=1, minutes=1)
    assert scheduler.status(key)["runCount"] == 31


@pytest.mark.parametrize("trigger", ["manual", "webhook"])
def test_the_per_agent_hourly_limit_refuses_manual_and_webhook_runs(trigger: str) -> None:
    scheduler = Scheduler(Limits(per_agent_hourly=4))
    key = scheduler.upsert(agent(cron=None, webhook=True), T0)
    sim = Sim(scheduler, run_for=timedelta(seconds=5))
    answers = []
    for _ in range(6):
        answers.append(scheduler.request(key, trigger, sim.now))
        sim.run_until(sim.now + timedelta(seconds=10))
    assert answers == [RequestResult.ACCEPTED] * 4 + [RequestResult.RATE_LIMITED] * 2
    assert len(sim.log) == 4
    sim.run_until(T0 + timedelta(hours=1, seconds=1))
    assert scheduler.request(key, trigger, sim.now) is RequestResult.ACCEPTED


def test_scheduled_runs_use_up_the_hourly_limit_that_manual_runs_share() -> None:
    scheduler = Scheduler(Limits(per_agent_hourly=3))
    key = scheduler.upsert(agent(), T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(minutes=3, seconds=30))
    assert len(sim.log) == 3
    assert scheduler.request(key, "manual", sim.now) is RequestResult.RATE_LIMITED


@pytest.mark.parametrize("trigger", ["scheduled", "manual", "webhook"])
def test_the_cluster_hourly_limit_holds_for_every_trigger(trigger: str) -> None:
    scheduler = Scheduler(Limits(cluster_hourly=5))
    cron = "*/1 * * * *" if trigger == "scheduled" else None
    keys = [scheduler.upsert(agent(f"a{n}", cron=cron, webhook=True), T0) for n in range(8)]
    sim = Sim(scheduler)
    if trigger == "scheduled":
        sim.run_until(T0 + timedelta(minutes=5))
    else:
        answers = [scheduler.request(key, trigger, T0) for key in keys]
        sim.run_until(T0 + timedelta(minutes=5))
        assert answers[:5] == [RequestResult.ACCEPTED] * 5
        # accepted requests use no quota until they start, so a late request is refused
        assert scheduler.request(keys[0], trigger, sim.now) is RequestResult.RATE_LIMITED
    assert len(sim.log) == 5


def test_paused_agents_start_nothing_whatever_the_trigger() -> None:
    scheduler = Scheduler()
    key = scheduler.upsert(agent(paused=True, webhook=True), T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(minutes=5))
    assert scheduler.request(key, "manual", sim.now) is RequestResult.PAUSED
    assert scheduler.request(key, "webhook", sim.now) is RequestResult.PAUSED
    sim.run_until(T0 + timedelta(minutes=6))
    assert sim.log == []
    status = scheduler.status(key)
    assert (status["phase"], status["nextRunTime"]) == ("Paused", None)
    assert status["conditions"][0]["reason"] == "Paused"
    scheduler.upsert(agent(webhook=True, generation=2), sim.now)
    sim.run_until(T0 + timedelta(minutes=7, seconds=10))
    assert len(sim.log) == 1


def test_pausing_drops_an_accepted_request_that_has_not_started() -> None:
    scheduler = Scheduler()
    key = scheduler.upsert(agent(cron=None, webhook=True), T0)
    assert scheduler.request(key, "manual", T0) is RequestResult.ACCEPTED
    scheduler.upsert(agent(cron=None, webhook=True, paused=True, generation=2), T0)
    assert scheduler.due(T0 + timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cron", "61 * * * *", "invalid minute field '61'"),
        ("cron", "* * * *", "has 4 fields; expected 5"),
        ("timezone", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone name"),
    ],
)
def test_an_invalid_schedule_stalls_the_agent_with_the_reason(
    field: str, value: str, message: str
) -> None:
    scheduler = Scheduler()
    bad = agent()
    bad["spec"]["schedule"][field] = value
    key = scheduler.upsert(bad, T0)
    sim = Sim(scheduler)
    sim.run_until(T0 + timedelta(minutes=10))
    assert sim.log == []  # the original ran such an agent once; it never runs here
    assert scheduler.request(key, "manual", sim.now) is RequestResult.STALLED
    status = scheduler.status(key)
    assert status["phase"] == "Stalled"
    assert status["nextRunTime"] is None
    ready, stalled = status["conditions"]
    assert (ready["type"], ready["status"], ready["reason"]) == (
        "Ready",
        "False",
        "InvalidSchedule",
    )
    assert (stalled["type"], stalled["status"]) == ("Stalled", "True")
    assert stalled["reason"] == "InvalidSchedule"
    assert stalled["message"].startswith(f"spec.schedule.{field}: ")
    assert message in stalled["message"]
    # fixed on the cluster: the agent resumes and Stalled goes away
    scheduler.upsert(agent(generation=2), sim.now)
    sim.run_until(sim.now + timedelta(minutes=1, seconds=10))
    assert len(sim.log) == 1
    assert [c["type"] for c in scheduler.status(key)["conditions"]] == ["Ready"]


def test_an_object_that_is_not_a_valid_agent_stalls_it_instead_of_failing() -> None:
    scheduler = Scheduler()
    broken = agent()
    del broken["spec"]["skills"]
    key = scheduler.upsert(broken, T0)
    status = scheduler.status(key)
    assert status["phase"] == "Stalled"
    assert status["conditions"][1]["message"] == "spec.skills: Field required"


def test_a_deleted_agent_keeps_its_slot_until_its_run_ends() -> None:
    scheduler = Scheduler(Limits(max_concurrent=1))
    gone = scheduler.upsert(agent("gone"), T0)
    other = scheduler.upsert(agent("other", cron=None, webhook=True), T0)
    sim = Sim(scheduler, run_for=timedelta(seconds=30))
    sim.run_until(T0 + timedelta(minutes=1, seconds=7))
    assert scheduler.in_flight == 1
    scheduler.remove(gone)
    assert scheduler.request(other, "manual", sim.now) is RequestResult.ACCEPTED
    assert scheduler.due(sim.now) == []
    sim.run_until(T0 + timedelta(minutes=1, seconds=45))
    assert [r.agent for _, r in sim.log] == ["gone", "other"]


def test_a_refused_caller_learns_when_the_window_frees_up() -> None:
    scheduler = Scheduler(Limits(per_agent_hourly=2))
    key = scheduler.upsert(agent(cron=None, webhook=True), T0)
    sim = Sim(scheduler)
    for minute in (0, 10):
        sim.now = T0 + timedelta(minutes=minute)
        assert scheduler.request(key, "webhook", sim.now) is RequestResult.ACCEPTED
        sim.tick()
        sim.run_until(sim.now + timedelta(seconds=10))
    assert scheduler.retry_after(key, T0 + timedelta(minutes=30)) == timedelta(minutes=30)
    assert scheduler.retry_after(key, T0 + timedelta(minutes=60)) is None


def test_a_requests_only_pass_starts_requested_runs_and_no_scheduled_one() -> None:
    scheduler = Scheduler()
    scheduler.upsert(agent("due", cron=None, interval="1m"), T0)  # due at once
    scheduler.upsert(agent("asked", cron=None, interval="1m"), T0)
    assert scheduler.request(("team", "asked"), "manual", T0) is RequestResult.ACCEPTED
    started = scheduler.due(T0 + timedelta(minutes=5), requests_only=True)
    assert [(r.agent, r.trigger) for r in started] == [("asked", "manual")]
    assert [r.agent for r in scheduler.due(T0 + timedelta(minutes=5))] == ["due"]
