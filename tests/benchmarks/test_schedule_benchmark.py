"""Scheduler figures: 1,000 agents due in the same minute, a concurrency limit of 10.

``SchedulingLoop`` runs in its own thread on the real clock (shifted so the minute starts
two seconds in) against an in-memory cluster, launching through ``InProcessLauncher`` with
an ``execute`` that stands in for a scripted model run of fixed length (``RUN_SECONDS``).
Printed, not asserted as timers: schedule lag (start of execution - planned start, jitter
included) at p50/p99, for the runs that never waited on the concurrency limit and for all;
the loop thread's CPU per tick, idle (1,000 agents loaded, nothing due) and busy; status
writes; and the process's peak RSS. Hourly limits are raised so they do not interfere.
The main job swaps ``execute`` for the real runner to measure it end to end.
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infraagent.operator.run_pool import InProcessLauncher
from infraagent.operator.scheduler import Limits, Scheduler
from infraagent.operator.scheduling import SchedulingLoop
from infraagent.ports import RunOutcome, RunRequest
from tests.unit.test_scheduler import agent

AGENTS = 1000
CONCURRENCY = 10
RUN_SECONDS = 0.05


@dataclass
class ShiftedClock:
    """The real clock, moved so that the next whole minute is ``lead`` seconds away."""

    lead: float = 3.0
    offset: timedelta = field(init=False)

    def __post_init__(self) -> None:
        real = datetime.now(UTC)
        minute = real.replace(second=0, microsecond=0) + timedelta(minutes=1)
        self.offset = minute - real - timedelta(seconds=self.lead)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Listing:
    items: list[dict[str, Any]]
    resource_version: str = "1"


@dataclass
class MemoryCluster:
    """The part of ``ports.Cluster`` the loop uses, in memory, counting status writes."""

    objects: list[dict[str, Any]]
    status_writes: int = 0

    def list(self, api_version: str, kind: str, namespace: str | None = None, **_: Any) -> Listing:
        return Listing(self.objects)

    def patch_status(
        self, api_version: str, kind: str, name: str, status: Mapping[str, Any], namespace: Any
    ) -> dict[str, Any]:
        self.status_writes += 1
        return {}

    def patch(self, *args: Any) -> dict[str, Any]:
        return {}


@dataclass
class Timings:
    clock: ShiftedClock
    lags: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def execute(self, request: RunRequest, started: Callable[[str], None]) -> RunOutcome:
        assert request.scheduled_time is not None
        lag = (self.clock.now() - request.scheduled_time).total_seconds()
        with self.lock:
            self.lags[(request.namespace, request.agent)] = lag
        started(f"{request.agent}-run")
        time.sleep(RUN_SECONDS)  # the scripted model run
        return RunOutcome(f"{request.agent}-run", "Succeeded")


class TimedLoop(SchedulingLoop):
    """Records the loop thread's own CPU time per tick."""

    cpu: list[tuple[float, int]]

    def tick(self) -> list[RunRequest]:
        before = time.thread_time()
        requests = super().tick()
        self.cpu.append((time.thread_time() - before, len(requests)))
        return requests


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def test_schedule_lag_cpu_and_memory_for_a_thousand_agents_due_at_once() -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    clock = ShiftedClock()
    cluster = MemoryCluster([agent(f"agent-{n:04}", f"team-{n % 20}") for n in range(AGENTS)])
    timings = Timings(clock)
    launcher = InProcessLauncher(timings.execute, CONCURRENCY)
    limits = Limits(max_concurrent=CONCURRENCY, per_agent_hourly=100, cluster_hourly=100_000)
    loop = TimedLoop(cluster, launcher, clock, scheduler=Scheduler(limits))
    loop.cpu = []
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while len(timings.lags) < AGENTS and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    loop.wake()
    thread.join(10)
    launcher.drain(10)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    scheduler = loop.scheduler
    waited = {key for key in timings.lags if scheduler.last_start_held(key)}
    free = [lag for key, lag in timings.lags.items() if key not in waited]
    every = list(timings.lags.values())
    idle = [cpu for cpu, started in loop.cpu[1:] if started == 0]
    busy = [cpu for cpu, started in loop.cpu if started > 0]
    print(
        f"\n{AGENTS} agents due in one minute (cron */1, jitter up to 6 s), concurrency "
        f"{CONCURRENCY}, runs of {RUN_SECONDS * 1000:.0f} ms:"
        f"\n  runs started: {len(every)}; not waiting on the limit: {len(free)}"
        f"\n  lag, not waiting: p50 {_pct(free, 0.5):.3f} s, p99 {_pct(free, 0.99):.3f} s"
        f"\n  lag, all runs:    p50 {_pct(every, 0.5):.3f} s, p99 {_pct(every, 0.99):.3f} s,"
        f" max {max(every, default=float('nan')):.3f} s"
        f"\n  loop CPU per tick: first (list + load {AGENTS}) {loop.cpu[0][0] * 1000:.1f} ms;"
        f" idle mean {statistics.fmean(idle or [0]) * 1000:.2f} ms ({len(idle)} ticks);"
        f" starting runs mean {statistics.fmean(busy or [0]) * 1000:.2f} ms,"
        f" max {max(busy, default=0) * 1000:.2f} ms ({len(busy)} ticks)"
        f"\n  status writes: {cluster.status_writes}"
        f"\n  peak RSS: {rss_before / 1024:.1f} MB before loading, {rss_after / 1024:.1f} MB after"
    )
    assert len(every) == AGENTS  # every agent ran exactly once in its minute
