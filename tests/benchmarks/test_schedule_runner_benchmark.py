"""Schedule lag with the real runner: 1,000 agents due in the same minute, on the API server.

The fleet lives on the real API server: 1,000 InfraAgents (cron ``*/1``) sharing one
AgentEnvironment, the reconciler's ConfigMap of one repository skill, one ModelTierConfig
and the Secret holding the model's key, plus a Role that lets the agents' ServiceAccounts
read pods. The leader's ``SchedulingLoop`` (``Scheduler`` with ``Limits(max_concurrent=10)``
and hourly limits raised out of the way) runs in its own thread on the real clock (shifted
so the minute starts ``LEAD`` seconds after the loop starts, enough for the first tick to
list the agents and write their statuses), launching through ``InProcessLauncher`` into
``execute_run`` wired as the operator wires it (``cli.run_cluster.execute_deps``: the real
Kubernetes client, the real Anthropic SDK, tool calls impersonating each agent's
ServiceAccount). The model is the ``ScriptedServer``, one process per launcher thread, so
every run plays its own short script in order (``kubectl get pods``, then a report).

Printed, not asserted as timers: the schedule lag (AgentRun ``status.scheduleLagMs``: the
AgentRun's creation minus the planned start, jitter excluded) at p50/p99 for runs that did
not wait on the concurrency limit and for all runs; runs per second; and the process RSS
with 1,000 agents loaded and at the end. If the runs of the first minute do not all finish
within ``BUDGET`` seconds, the runs finished by then are the measured subset and the output
says so. It asserts what a user would notice: every measured run Succeeded with one tool
call executed, and each agent ran once in its minute.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube.client import KubeClient
from infraagent.cli.run_cluster import execute_deps
from infraagent.models.common import GROUP_VERSION
from infraagent.operator.execute import execute_run
from infraagent.operator.run_inputs import RunInputs
from infraagent.operator.run_pool import InProcessLauncher
from infraagent.operator.scheduler import Limits, Scheduler
from infraagent.operator.scheduling import SchedulingLoop
from infraagent.ports import ModelProvider, RunOutcome, RunRequest
from tests.benchmarks.test_schedule_benchmark import ShiftedClock
from tests.integration.conftest import ControlPlane, control_plane, crds, kube_api, namespace
from tests.integration.test_execute_support import (
    KEY,
    REPORT,
    Fleet,
    StepClock,
    agent_manifest,
    kubectl,
)
from tests.integration.test_execute_support import _objects as execute_objects

__all__ = ["control_plane", "crds", "kube_api", "namespace"]

AGENTS = 1000
CONCURRENCY = 10
LEAD = 25.0  # seconds from starting the loop to the minute all agents are due in
BUDGET = 300.0  # seconds after that minute; runs finished by then are measured
UNUSED_ENDPOINT = "http://127.0.0.1:9"  # the tier's; each run is pointed at its thread's server


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _fleet_objects(namespace: str) -> list[dict[str, Any]]:
    """Environment, skill ConfigMap, key Secret, a Pod to list, and the pod reader Role."""
    shared = [o for o in execute_objects(namespace) if o["kind"] not in ("InfraAgent", "Pod")]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pod-reader", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "agents-read-pods", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": f"system:serviceaccounts:{namespace}",
            }
        ],
    }
    pod = next(o for o in execute_objects(namespace) if o["kind"] == "Pod")
    return [*shared, pod, role, binding]


def _agent(namespace: str, n: int) -> dict[str, Any]:
    manifest = agent_manifest(namespace)
    schedule = {"cron": "*/1 * * * *", "timezone": "UTC"}
    spec = {**manifest["spec"], "schedule": schedule, "description": f"Watcher {n}"}
    return {
        **manifest,
        "metadata": {"name": f"agent-{n:04d}", "namespace": namespace},
        "spec": spec,
    }


@dataclass
class ModelServers:
    """``ScriptedServer``s, each a separate process (as a real model API is: its memory and
    CPU are not the operator's), all playing ``script``."""

    script: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def start(self, count: int) -> ModelServers:
        """Start ``count`` servers; returns once all of them listen."""
        for n in range(count):
            log = self.script.with_name(f"model-{n}.log")
            with log.open("wb") as out:
                argv = [sys.executable, "-m", "infraagent.providers.scripted", str(self.script)]
                self.processes.append(subprocess.Popen([*argv, "--api-key", KEY], stdout=out))
            self.urls.append(_endpoint(log, self.processes[-1]))
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(10)


@dataclass
class ModelPerThread:
    """The operator's ``model_for``, pointed at a model server of the calling thread's own.

    A launcher thread executes one run at a time, so its server's script (the same two
    turns over and over) is played in order by each run.
    """

    model_for: Callable[[RunInputs], ModelProvider]
    free: list[str]
    local: threading.local = field(default_factory=threading.local)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, inputs: RunInputs) -> ModelProvider:
        url = getattr(self.local, "url", None)
        if url is None:
            with self.lock:
                url = self.local.url = self.free.pop()
        tier = inputs.tier.model_copy(update={"endpoint": url})
        return self.model_for(replace(inputs, tier=tier))


def _endpoint(log: Path, process: subprocess.Popen[bytes]) -> str:
    """The Anthropic endpoint the server at ``process`` prints once it listens."""
    for _ in range(300):  # a safety net against a server that never starts, not a timer
        for line in log.read_text().splitlines():
            if "anthropic endpoint:" in line:
                return line.split("anthropic endpoint:")[1].strip()
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the scripted model did not start: {log.read_text()}")


@dataclass
class Record:
    """Each run of the measured minute: held by the limit at launch, and its outcome."""

    minute: datetime
    scheduler: Scheduler | None = None
    held: dict[str, bool] = field(default_factory=dict)
    outcomes: dict[str, RunOutcome] = field(default_factory=dict)
    first_launch: float | None = None
    ends: list[float] = field(default_factory=list)
    all_done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def measured(self, request: RunRequest) -> bool:
        planned = request.scheduled_time
        return planned is not None and self.minute <= planned < self.minute + timedelta(minutes=1)

    def launched(self, request: RunRequest) -> None:
        if self.measured(request) and self.scheduler is not None:
            held = self.scheduler.last_start_held((request.namespace, request.agent))
            with self.lock:
                self.held[request.agent] = held
                self.first_launch = self.first_launch or time.monotonic()

    def finished(self, request: RunRequest, outcome: RunOutcome) -> None:
        if not self.measured(request):
            return
        with self.lock:
            self.outcomes[request.agent] = outcome
            self.ends.append(time.monotonic())
            if len(self.outcomes) == AGENTS:
                self.all_done.set()


class RecordingLauncher(InProcessLauncher):
    """``InProcessLauncher`` that notes, per launch, whether the run waited on the limit."""

    def __init__(self, execute: Any, concurrency: int, record: Record) -> None:
        super().__init__(execute, concurrency)
        self.record = record

    def launch(self, request: RunRequest, started: Any, done: Any) -> None:
        self.record.launched(request)

        def on_done(request: RunRequest, outcome: RunOutcome) -> None:
            self.record.finished(request, outcome)
            done(request, outcome)

        super().launch(request, started, on_done)


@pytest.fixture
def admin(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


def _load_fleet(admin: KubeClient, namespace: str, tier_url: str) -> float:
    """Create the fleet; seconds it took to create the agents."""
    for obj in _fleet_objects(namespace):
        admin.apply(obj)
    admin.apply(Fleet(admin, namespace, StepClock()).tier_config(f"tiers-{namespace}", tier_url))
    started = time.perf_counter()
    for n in range(AGENTS):
        admin.create(_agent(namespace, n))
    return time.perf_counter() - started


@pytest.mark.benchmark
def test_schedule_lag_with_the_real_runner(
    admin: KubeClient, namespace: str, tmp_path: Path
) -> None:
    rss_start = _rss_mb()
    create_seconds = _load_fleet(admin, namespace, UNUSED_ENDPOINT)
    script = tmp_path / "model.yaml"
    turns = [kubectl(f"get pods -n {namespace}"), REPORT]
    script.write_text(yaml.safe_dump({"turns": turns * AGENTS}))
    servers = ModelServers(script)
    try:
        servers.start(CONCURRENCY)
        clock = ShiftedClock(lead=LEAD)  # the next whole minute is LEAD seconds away
        minute = (clock.now() + timedelta(seconds=LEAD + 1)).replace(second=0, microsecond=0)
        deps = execute_deps(admin, clock)
        deps = replace(deps, model_for=ModelPerThread(deps.model_for, list(servers.urls)))
        record = Record(minute)
        launcher = RecordingLauncher(
            lambda request, started: execute_run(request, deps, started), CONCURRENCY, record
        )
        limits = Limits(max_concurrent=CONCURRENCY, per_agent_hourly=100, cluster_hourly=100_000)
        loop = SchedulingLoop(admin, launcher, clock, scheduler=Scheduler(limits))
        record.scheduler = loop.scheduler
        first = time.perf_counter()
        loop.tick()  # the leader's first tick: list the agents, plan them, write their statuses
        setup = Setup(create_seconds, time.perf_counter() - first, minute - clock.now())
        rss_loaded = _rss_mb()
        _run_until_done(loop, launcher, record, setup.margin.total_seconds() + BUDGET)
    finally:
        servers.stop()
    rss_end = _rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _report(admin, namespace, record, setup)
    print(
        f"  process RSS: {rss_start:.0f} MB at start, {rss_loaded:.0f} MB with {AGENTS} agents"
        f" loaded in the scheduler, {rss_end:.0f} MB after the runs (peak {peak:.0f} MB)"
    )


@dataclass(frozen=True)
class Setup:
    create_seconds: float
    first_tick: float
    margin: timedelta


def _run_until_done(
    loop: SchedulingLoop, launcher: InProcessLauncher, record: Record, seconds: float
) -> None:
    """The leader's loop in its thread until the measured runs ended or ``seconds`` passed."""
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        record.all_done.wait(seconds)
    finally:
        stop.set()
        loop.wake()
        thread.join(30)
        launcher.drain(120)


def _report(
    admin: KubeClient,
    namespace: str,
    record: Record,
    setup: Setup,
) -> None:
    runs = {
        run["metadata"]["name"]: run
        for run in admin.list(GROUP_VERSION, "AgentRun", namespace).items
    }
    lags_free: list[float] = []
    lags_all: list[float] = []
    one_call = 0
    problems: list[str] = []
    for agent, outcome in record.outcomes.items():
        status = runs[outcome.run_name]["status"] if outcome.run_name in runs else {}
        if status.get("phase") != "Succeeded":
            problems.append(f"{agent}: {outcome.phase} {status.get('reason')}")
            continue
        ledger = status.get("ledger") or []
        one_call += len(ledger) == 1 and ledger[0]["outcome"] == "executed"
        lag = status["scheduleLagMs"] / 1000
        lags_all.append(lag)
        if not record.held.get(agent, True):
            lags_free.append(lag)
    done = len(record.outcomes)
    span = max(record.ends) - (record.first_launch or 0) if record.ends else float("nan")
    subset = "" if done == AGENTS else f" (SUBSET: {done} of {AGENTS} within {BUDGET:.0f} s)"
    with contextlib.suppress(statistics.StatisticsError):
        print(
            f"\n{AGENTS} agents (cron */1, jitter up to 6 s) due in one minute, real API server,"
            f" real runner, scripted model, concurrency {CONCURRENCY}:{subset}"
            f"\n  fleet: {AGENTS} InfraAgents created in {setup.create_seconds:.1f} s; first tick"
            f" (list, plan, write {AGENTS} statuses) {setup.first_tick:.1f} s, then"
            f" {setup.margin.total_seconds():.1f} s before"
            f" the minute"
            f"\n  runs finished: {done}; Succeeded with one kubectl call executed: {one_call};"
            f" not waiting on the limit: {len(lags_free)}"
            f"\n  schedule lag, not waiting: p50 {_pct(lags_free, 0.5):.3f} s,"
            f" p99 {_pct(lags_free, 0.99):.3f} s, max {max(lags_free, default=float('nan')):.3f} s"
            f"\n  schedule lag, all runs:    p50 {_pct(lags_all, 0.5):.3f} s,"
            f" p99 {_pct(lags_all, 0.99):.3f} s, max {max(lags_all, default=float('nan')):.3f} s"
            f"\n  throughput: {done / span:.1f} runs/s ({done} runs from the first launch to the"
            f" last end in {span:.1f} s; mean lag {statistics.fmean(lags_all):.1f} s)"
        )
    assert problems == []
    assert one_call == done
