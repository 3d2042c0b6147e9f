"""The scheduling loop on a real kube-apiserver, with a fake clock and a recording launcher.

InfraAgents are created in a fresh namespace; ``SchedulingLoop`` lists them, starts due
runs through a launcher double (the real launcher is tested elsewhere) and writes their
status, which ``kubectl get infraagents`` shows. The run-now annotation is taken once and
removed from the object; an invalid cron set on the cluster object is written as Stalled.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.errors import KubeError
from infraagent.models.keys import RUN_NOW_ANNOTATION
from infraagent.operator.scheduler import Limits, RequestResult, Scheduler
from infraagent.operator.scheduling import API_VERSION, KIND, SchedulingLoop
from infraagent.ports import RunOutcome, RunRequest

from .conftest import REPO, ControlPlane

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    current: datetime = T0

    def now(self) -> datetime:
        return self.current


@dataclass
class RecordingLauncher:
    """Records each request, names its run at once and ends it ``run_for`` later."""

    clock: FakeClock
    run_for: timedelta = timedelta(seconds=5)
    requests: list[RunRequest] = field(default_factory=list)
    open: list[tuple[datetime, RunRequest, str, Callable[[RunRequest, RunOutcome], None]]] = field(
        default_factory=list
    )

    def launch(
        self,
        request: RunRequest,
        started: Callable[[RunRequest, str], None],
        done: Callable[[RunRequest, RunOutcome], None],
    ) -> None:
        self.requests.append(request)
        # numbered per agent: the loop also sees agents other tests left in the cluster
        same = [
            r for r in self.requests if (r.namespace, r.agent) == (request.namespace, request.agent)
        ]
        name = f"{request.agent}-run-{len(same)}"
        started(request, name)
        self.open.append((self.clock.now() + self.run_for, request, name, done))

    def next_end(self) -> datetime | None:
        return min((end for end, *_ in self.open), default=None)

    def finish_due(self) -> None:
        for item in [item for item in self.open if item[0] <= self.clock.now()]:
            self.open.remove(item)
            _, request, name, done = item
            done(request, RunOutcome(name, "Succeeded"))


@dataclass
class Stepper:
    """The loop's injected ``wait``: steps the fake clock, ending runs on the way."""

    clock: FakeClock
    launcher: RecordingLauncher
    until: datetime = T0
    stop: threading.Event = field(default_factory=threading.Event)

    def wait(self, seconds: float) -> None:
        target = self.clock.now() + timedelta(seconds=seconds)
        end = self.launcher.next_end()
        self.clock.current = min(target, end) if end is not None else target
        self.launcher.finish_due()
        if self.clock.now() >= self.until:
            self.stop.set()


@dataclass
class Harness:
    kube: KubeClient
    plane: ControlPlane
    namespace: str
    clock: FakeClock
    launcher: RecordingLauncher
    loop: SchedulingLoop
    stepper: Stepper
    reports: list[str]

    def create(self, name: str, **schedule: Any) -> None:
        doc: dict[str, Any] = yaml.safe_load((REPO / "agents/hello-world.yaml").read_text())
        doc["metadata"] = {"name": name, "namespace": self.namespace}
        doc["spec"]["schedule"] = {"timezone": "UTC", **schedule}
        self.kube.create(doc)

    def get(self, name: str) -> dict[str, Any]:
        return self.kube.get(API_VERSION, KIND, name, self.namespace)

    def run_until(self, until: datetime) -> None:
        """``loop.run`` until the fake clock reaches ``until`` (its wait steps the clock)."""
        self.stepper.until = until
        self.stepper.stop.clear()
        self.loop.run(self.stepper.stop)

    def table(self) -> dict[str, dict[str, str]]:
        """``kubectl get infraagents -o wide``, one row per agent, cells by column title."""
        out = self.plane.kubectl("get", "infraagents", "-n", self.namespace, "-o", "wide")
        header, *lines = out.stdout.splitlines()
        titles = re.findall(r"\S+(?: \S+)*", header)
        starts = [header.index(title) for title in titles]
        rows = {}
        for line in lines:
            cells = [
                line[start:end].strip()
                for start, end in zip(starts, [*starts[1:], None], strict=True)
            ]
            rows[cells[0]] = dict(zip(titles, cells, strict=True))
        return rows

    def mine(self) -> list[RunRequest]:
        return [r for r in self.launcher.requests if r.namespace == self.namespace]


@pytest.fixture
def harness(control_plane: ControlPlane, crds: list[str], namespace: str) -> Iterator[Harness]:
    clock = FakeClock()
    launcher = RecordingLauncher(clock)
    stepper = Stepper(clock, launcher)
    reports: list[str] = []
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as kube:
        loop = SchedulingLoop(
            kube,
            launcher,
            clock,
            scheduler=Scheduler(Limits(per_agent_hourly=100)),
            wait=stepper.wait,
            report=reports.append,
            namespace=namespace,  # agents other tests left elsewhere would share the limits
        )
        yield Harness(kube, control_plane, namespace, clock, launcher, loop, stepper, reports)


def test_agents_run_on_schedule_and_their_status_shows_in_kubectl(harness: Harness) -> None:
    harness.create("minutely", cron="*/1 * * * *")
    harness.create("hooked", triggers=[{"type": "webhook", "source": "alertmanager"}])
    harness.run_until(T0 + timedelta(minutes=5, seconds=30))

    runs = harness.mine()
    assert [r.agent for r in runs] == ["minutely"] * 5
    assert [r.scheduled_time.replace(second=0) for r in runs if r.scheduled_time] == [
        T0 + timedelta(minutes=m) for m in range(1, 6)
    ]
    status = harness.get("minutely")["status"]
    assert status["runCount"] == 5
    assert status["lastRunName"] == "minutely-run-5"
    last_planned = runs[-1].scheduled_time
    assert last_planned is not None
    assert status["lastRunTime"] == last_planned.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert status["consecutiveFailures"] == 0
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 1
    assert status["nextRunTime"].startswith("2026-11-27T10:06:0")
    assert status["conditions"][0]["reason"] == "Scheduled"
    hooked = harness.get("hooked")["status"]
    assert (hooked["phase"], hooked["runCount"]) == ("Ready", 0)
    assert hooked["conditions"][0]["reason"] == "TriggerOnly"

    rows = harness.table()
    assert rows["minutely"]["CRON"] == "*/1 * * * *"
    assert (rows["minutely"]["PHASE"], rows["minutely"]["READY"]) == ("Ready", "True")
    assert rows["minutely"]["RUNS"] == "5"
    assert rows["minutely"]["LAST RUN"] != ""
    assert rows["minutely"]["NEXT RUN"] != ""
    assert (rows["hooked"]["PHASE"], rows["hooked"]["RUNS"]) == ("Ready", "0")


def test_status_is_written_only_when_it_changes(harness: Harness) -> None:
    harness.create("minutely", cron="*/1 * * * *")
    harness.loop.tick()
    version = harness.get("minutely")["metadata"]["resourceVersion"]
    harness.clock.current += timedelta(seconds=20)
    harness.loop.resync()
    assert harness.loop.tick() == []
    assert harness.get("minutely")["metadata"]["resourceVersion"] == version
    # a new loop (another leader) reads the same status and writes nothing either
    fresh = SchedulingLoop(
        harness.kube, harness.launcher, harness.clock, namespace=harness.namespace
    )
    fresh.tick()
    assert harness.get("minutely")["metadata"]["resourceVersion"] == version


def test_the_run_now_annotation_is_taken_once_and_cleared(harness: Harness) -> None:
    harness.create("hooked", triggers=[{"type": "webhook", "source": "alertmanager"}])
    harness.loop.tick()
    harness.plane.kubectl(
        "annotate", "infraagents/hooked", "-n", harness.namespace, f"{RUN_NOW_ANNOTATION}=true"
    )
    annotated = harness.get("hooked")
    harness.loop.feed("MODIFIED", annotated)
    harness.loop.feed("MODIFIED", annotated)  # the same version again: not a second run
    started = [r for r in harness.loop.tick() if r.namespace == harness.namespace]
    assert [(r.agent, r.trigger) for r in started] == [("hooked", "manual")]
    after = harness.get("hooked")
    assert RUN_NOW_ANNOTATION not in (after["metadata"].get("annotations") or {})
    harness.loop.resync()
    harness.clock.current += timedelta(minutes=1)
    harness.launcher.finish_due()
    harness.loop.tick()
    assert len(harness.mine()) == 1
    status = harness.get("hooked")["status"]
    assert (status["runCount"], status["lastRunName"]) == (1, "hooked-run-1")
    assert any("run-now on" in line and "accepted" in line for line in harness.reports)


def test_webhook_requests_go_through_the_same_single_flight(harness: Harness) -> None:
    harness.create("hooked", triggers=[{"type": "webhook", "source": "alertmanager"}])
    harness.loop.tick()
    ns = harness.namespace
    assert harness.loop.request_run(ns, "hooked") is RequestResult.ACCEPTED
    assert [r.trigger for r in harness.loop.tick() if r.namespace == ns] == ["webhook"]
    assert harness.loop.request_run(ns, "hooked") is RequestResult.ALREADY_RUNNING
    assert harness.get("hooked")["status"]["phase"] == "Running"
    assert harness.loop.request_run(ns, "nobody") is RequestResult.UNKNOWN


def test_an_invalid_cron_set_on_the_cluster_is_written_as_stalled(harness: Harness) -> None:
    harness.create("minutely", cron="*/1 * * * *")
    harness.loop.tick()
    harness.plane.kubectl(
        "patch", "infraagents/minutely", "-n", harness.namespace, "--type=merge",
        "-p", '{"spec": {"schedule": {"cron": "61 * * * *"}}}',
    )  # fmt: skip
    harness.loop.feed("MODIFIED", harness.get("minutely"))
    harness.run_until(T0 + timedelta(minutes=5))
    assert harness.mine() == []
    status = harness.get("minutely")["status"]
    assert (status["phase"], status["observedGeneration"]) == ("Stalled", 2)
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSchedule")
    assert "invalid minute field '61'" in stalled["message"]
    row = harness.table()["minutely"]
    assert (row["PHASE"], row["READY"], row["NEXT RUN"]) == ("Stalled", "False", "")
    assert "nextRunTime" not in status


def test_deleted_agents_are_forgotten_by_watch_event_or_by_resync(harness: Harness) -> None:
    harness.create("first", triggers=[{"type": "webhook", "source": "alertmanager"}])
    harness.create("second", triggers=[{"type": "webhook", "source": "alertmanager"}])
    harness.loop.tick()
    ns = harness.namespace
    gone = harness.get("first")
    harness.kube.delete(API_VERSION, KIND, "first", ns)
    harness.loop.feed("DELETED", gone)
    assert harness.loop.request_run(ns, "first") is RequestResult.UNKNOWN
    harness.kube.delete(API_VERSION, KIND, "second", ns)  # no event: the resync notices
    harness.loop.resync()
    assert harness.loop.request_run(ns, "second") is RequestResult.UNKNOWN


def test_no_run_starts_while_the_leader_is_not_accepting(harness: Harness) -> None:
    accepting = False
    loop = SchedulingLoop(
        harness.kube, harness.launcher, harness.clock, accepting=lambda: accepting
    )
    harness.create("hooked", triggers=[{"type": "webhook", "source": "alertmanager"}])
    loop.tick()
    assert loop.request_run(harness.namespace, "hooked") is RequestResult.ACCEPTED
    assert loop.tick() == []  # nothing at all, in any namespace
    accepting = True
    assert [r.agent for r in loop.tick() if r.namespace == harness.namespace] == ["hooked"]


@dataclass
class FlakyStatus:
    """The real client; its first status write in ``namespace`` fails like a dropped connection."""

    kube: KubeClient
    namespace: str
    fail_next: bool = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kube, name)

    def patch_status(self, *args: Any) -> dict[str, Any]:
        if self.fail_next and args[-1] == self.namespace:
            self.fail_next = False
            raise KubeError("patch status: connection reset")
        return self.kube.patch_status(*args)


def test_a_failed_status_write_is_reported_and_retried(harness: Harness) -> None:
    flaky = FlakyStatus(harness.kube, harness.namespace)
    reports: list[str] = []
    loop = SchedulingLoop(flaky, harness.launcher, harness.clock, report=reports.append)
    harness.create("hooked", triggers=[{"type": "webhook", "source": "alertmanager"}])
    loop.tick()
    assert "conditions" not in harness.get("hooked").get("status", {})
    failure = f"writing the status of {harness.namespace}/hooked failed: "
    assert failure + "patch status: connection reset" in reports
    loop.tick()
    assert harness.get("hooked")["status"]["conditions"][0]["reason"] == "TriggerOnly"


class RealClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class SignallingLauncher:
    """Signals when a run of an agent in ``namespace`` is launched; every run fails at once."""

    namespace: str
    launched: threading.Event = field(default_factory=threading.Event)
    requests: list[RunRequest] = field(default_factory=list)

    def launch(
        self,
        request: RunRequest,
        started: Callable[[RunRequest, str], None],
        done: Callable[[RunRequest, RunOutcome], None],
    ) -> None:
        if request.namespace == self.namespace:
            self.requests.append(request)
            self.launched.set()
        done(request, RunOutcome(None, "Failed"))


class TickSignallingLoop(SchedulingLoop):
    """Sets ``ticked`` after each tick, so a test knows the loop went back to waiting."""

    ticked: threading.Event

    def tick(self) -> list[RunRequest]:
        requests = super().tick()
        self.ticked.set()
        return requests


def test_a_webhook_request_wakes_the_waiting_loop_instead_of_the_next_tick(
    harness: Harness,
) -> None:
    launcher = SignallingLauncher(harness.namespace)
    loop = TickSignallingLoop(harness.kube, launcher, RealClock(), tick_every=timedelta(hours=1))
    loop.ticked = threading.Event()
    harness.create("hooked", triggers=[{"type": "webhook", "source": "alertmanager"}])
    stop = threading.Event()
    worker = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    worker.start()
    try:
        assert loop.ticked.wait(60)  # the first tick is over: next one in an hour, or woken
        assert loop.request_run(harness.namespace, "hooked") is RequestResult.ACCEPTED
        assert launcher.launched.wait(60), "the loop slept through the request"
    finally:
        stop.set()
        loop.wake()
        worker.join(30)
    assert not worker.is_alive()
    assert [
        (r.agent, r.trigger) for r in launcher.requests if r.namespace == harness.namespace
    ] == [("hooked", "webhook")]
    # the run failed to start: counted, and the agent can be asked again at once
    loop.write_statuses()
    assert harness.get("hooked")["status"]["consecutiveFailures"] == 1
