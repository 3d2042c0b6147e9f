"""``InProcessLauncher``: at most N runs at once, ``launch`` never blocks, ``started`` and
``done`` exactly once per run, open runs known, and a drain that gives back what is left."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from infraagent.models.agentrun import AgentRun, RunPhase
from infraagent.operator.execute import execute_run
from infraagent.operator.run_pool import InProcessLauncher
from infraagent.ports import RunOutcome, RunRequest

from .test_execute_support import AGENT, REPORT, Fleet, fleet

__all__ = ["fleet"]  # the fixture
WAIT = 30.0  # a safety net against a hung test, never what a test measures


def _request(agent: str) -> RunRequest:
    return RunRequest("shop", agent, "manual", datetime(2026, 11, 27, tzinfo=UTC))


@dataclass
class Blocking:
    """An ``execute`` whose runs start, then wait until released."""

    release: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    most: int = 0
    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RunRequest, started: Callable[[str], None]) -> RunOutcome:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        started(f"{request.agent}-run")
        self.entered.release()
        self.release.wait(WAIT)
        with self.lock:
            self.running -= 1
        if request.agent == "boom":
            raise RuntimeError("an executor bug")
        return RunOutcome(f"{request.agent}-run", "Succeeded")


@dataclass
class Calls:
    started: list[str] = field(default_factory=list)
    done: list[tuple[str, RunOutcome]] = field(default_factory=list)
    all_done: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def on_started(self, request: RunRequest, name: str) -> None:
        self.started.append(name)

    def on_done(self, request: RunRequest, outcome: RunOutcome) -> None:
        self.done.append((request.agent, outcome))
        self.all_done.release()

    def wait_done(self, count: int) -> None:
        for _ in range(count):
            assert self.all_done.acquire(timeout=WAIT)


def test_at_most_the_limit_runs_at_once_and_each_ends_exactly_once() -> None:
    execute, calls = Blocking(), Calls()
    launcher = InProcessLauncher(execute, concurrency=2)
    agents = ["a", "b", "c", "d", "boom"]
    for agent in agents:
        launcher.launch(_request(agent), calls.on_started, calls.on_done)  # returns at once
    for _ in range(2):
        assert execute.entered.acquire(timeout=WAIT)
    assert launcher.open_runs == {("shop", name) for name in calls.started}
    assert len(launcher.open_runs) == 2 and calls.done == []
    execute.release.set()
    calls.wait_done(len(agents))
    assert execute.most == 2
    assert Counter(agent for agent, _ in calls.done) == Counter(agents)
    outcomes = dict(calls.done)
    assert outcomes["a"] == RunOutcome("a-run", "Succeeded")
    assert outcomes["boom"] == RunOutcome("boom-run", "Failed")  # the bug ends the run
    assert launcher.open_runs == frozenset()


def test_drain_drops_queued_runs_and_returns_those_still_running() -> None:
    execute, calls = Blocking(), Calls()
    launcher = InProcessLauncher(execute, concurrency=1)
    for agent in ["first", "queued-1", "queued-2"]:
        launcher.launch(_request(agent), calls.on_started, calls.on_done)
    assert execute.entered.acquire(timeout=WAIT)

    left = launcher.drain(timeout=0)
    assert left == {("shop", "first-run")}
    interrupted = RunOutcome(None, RunPhase.INTERRUPTED.value)
    assert sorted(calls.done) == [("queued-1", interrupted), ("queued-2", interrupted)]

    launcher.launch(_request("late"), calls.on_started, calls.on_done)
    assert calls.done[-1] == ("late", RunOutcome(None, "Failed"))  # refused while draining

    execute.release.set()
    assert launcher.drain(timeout=WAIT) == frozenset()
    assert ("first", RunOutcome("first-run", "Succeeded")) in calls.done
    assert len(calls.done) == 4 and calls.started == ["first-run"]


def test_runs_on_the_cluster_through_the_launcher(fleet: Fleet) -> None:
    calls = Calls()
    deps = fleet.deps()
    launcher = InProcessLauncher(lambda r, started: execute_run(r, deps, started), concurrency=2)
    request = RunRequest(fleet.namespace, AGENT, "manual", fleet.clock.value)
    with fleet.serve([REPORT, REPORT, REPORT]):
        for _ in range(3):
            launcher.launch(request, calls.on_started, calls.on_done)
        calls.wait_done(3)
    assert [outcome.phase for _, outcome in calls.done] == ["Succeeded"] * 3
    names = sorted(str(outcome.run_name) for _, outcome in calls.done)
    assert sorted(calls.started) == names and len(set(names)) == 3
    for name in names:
        run = AgentRun.model_validate(fleet.agentrun(name))
        assert run.status is not None and run.status.phase is RunPhase.SUCCEEDED
        assert run.spec.trigger.value == "manual"
    assert launcher.drain(timeout=WAIT) == frozenset()


def test_a_failing_started_callback_does_not_abandon_the_run() -> None:
    execute, calls = Blocking(), Calls()
    execute.release.set()

    def broken(request: RunRequest, name: str) -> None:
        raise RuntimeError("a bug in the scheduler's callback")

    launcher = InProcessLauncher(execute, concurrency=1)
    launcher.launch(_request("a"), broken, calls.on_done)
    calls.wait_done(1)
    assert calls.done == [("a", RunOutcome("a-run", "Succeeded"))]
