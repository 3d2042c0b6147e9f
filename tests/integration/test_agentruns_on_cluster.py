"""AgentRuns on a real kube-apiserver: recorded as a run goes, final once finished, kept.

Through ``operator.runs`` and the real ``KubeClient``: a run's AgentRun gets a generated
name and the agent's label, its status moves Running -> terminal and then the server (CEL)
refuses any change; the record survives its agent; runs a dead process left open are
closed as Interrupted; retention deletes exactly the old runs beyond the per-agent minimum.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.errors import KubeError, KubeInvalid, KubeNotFound
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import AgentRunStatus, RunPhase, Trigger, Usage
from infraagent.operator.runs import AgentRunRecorder, apply_retention, mark_interrupted
from infraagent.runtime.loop import RunResult
from infraagent.runtime.record import run_status

from .conftest import REPO, ControlPlane

API = "core.infraagent.io/v1alpha1"
MODEL = "anthropic/claude-3-5-haiku-20241022"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    current: datetime = T0

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _agent_doc(name: str, namespace: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        (REPO / "agents/hello-world.yaml").read_text(encoding="utf-8")
    )
    doc["metadata"] = {"name": name, "namespace": namespace}
    return doc


def _agent(name: str, namespace: str) -> InfraAgent:
    return InfraAgent.model_validate(_agent_doc(name, namespace))


def _finished(clock: FakeClock, phase: RunPhase = RunPhase.SUCCEEDED) -> AgentRunStatus:
    result = RunResult(
        phase=phase,
        reason="Completed" if phase is RunPhase.SUCCEEDED else "ModelError",
        report="All nodes Ready.",
        iterations=2,
        started=clock.now() - timedelta(seconds=5),
        finished=clock.now(),
    )
    return run_status(result, None)


def _get(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return kube.get(API, "AgentRun", name, namespace)


# --------------------------------------------------------------------------- lifecycle


def test_a_run_is_created_running_updated_and_final_once_finished(
    kube: KubeClient, clock: FakeClock, namespace: str
) -> None:
    recorder = AgentRunRecorder(kube, clock)
    planned = T0 - timedelta(milliseconds=1500)
    name = recorder.start(_agent("hello-world", namespace), Trigger.SCHEDULED, MODEL, planned)

    assert name.startswith("hello-world-") and len(name) > len("hello-world-")
    run = _get(kube, namespace, name)
    assert run["metadata"]["labels"]["infraagent.io/agent"] == "hello-world"
    assert run["metadata"].get("ownerReferences") is None
    assert run["spec"]["agentRef"] == "hello-world"
    assert run["spec"]["trigger"] == "scheduled"
    assert run["spec"]["limits"] == {"tokenBudget": 4000, "maxIterations": 3, "timeoutSeconds": 30}
    assert run["status"]["phase"] == "Running"
    assert run["status"]["startTime"] == "2026-11-27T10:00:00Z"
    assert run["status"]["scheduleLagMs"] == 1500

    clock.advance(timedelta(seconds=3))
    progress = AgentRunStatus(
        phase=RunPhase.RUNNING, startTime=T0, usage=Usage(iterations=1, totalTokens=300)
    )
    recorder.update(name, namespace, progress)
    assert _get(kube, namespace, name)["status"]["usage"]["iterations"] == 1

    recorder.finish(name, namespace, _finished(clock))
    done = _get(kube, namespace, name)["status"]
    assert done["phase"] == "Succeeded"
    assert done["usage"]["iterations"] == 2

    with pytest.raises(KubeInvalid) as refused:
        recorder.update(name, namespace, progress)
    assert isinstance(refused.value, KubeError)
    assert refused.value.status == 422
    assert "a finished AgentRun's status is final" in str(refused.value)
    with pytest.raises(KubeInvalid):
        recorder.finish(name, namespace, _finished(clock, RunPhase.FAILED))
    assert _get(kube, namespace, name)["status"]["phase"] == "Succeeded"


def test_the_recorder_refuses_a_phase_in_the_wrong_call(kube: KubeClient, clock: FakeClock) -> None:
    recorder = AgentRunRecorder(kube, clock)
    with pytest.raises(ValueError, match="terminal"):
        recorder.update("x", "y", AgentRunStatus(phase=RunPhase.FAILED))
    with pytest.raises(ValueError, match="not a terminal"):
        recorder.finish("x", "y", AgentRunStatus(phase=RunPhase.RUNNING))


def test_kubectl_get_agentruns_shows_agent_phase_and_trigger(
    kube: KubeClient, clock: FakeClock, control_plane: ControlPlane, namespace: str
) -> None:
    recorder = AgentRunRecorder(kube, clock)
    name = recorder.start(_agent("vigil", namespace), Trigger.MANUAL, MODEL)
    out = control_plane.kubectl("get", "agentruns", "-n", namespace).stdout
    header, *rows = out.strip().splitlines()
    assert header.split()[:4] == ["NAME", "AGENT", "PHASE", "TRIGGER"]
    assert rows[0].split()[:4] == [name, "vigil", "Running", "manual"]


def test_the_runs_outlive_their_agent(kube: KubeClient, clock: FakeClock, namespace: str) -> None:
    created = kube.create(_agent_doc("scout", namespace))
    agent = InfraAgent.model_validate(created)
    recorder = AgentRunRecorder(kube, clock)
    name = recorder.start(agent, Trigger.WEBHOOK, MODEL)
    recorder.finish(name, namespace, _finished(clock))

    kube.delete(API, "InfraAgent", "scout", namespace, propagation="Background")
    with pytest.raises(KubeNotFound):
        kube.get(API, "InfraAgent", "scout", namespace)
    run = _get(kube, namespace, name)
    assert run["status"]["phase"] == "Succeeded"
    # The test control plane runs no garbage collector: what would make a real cluster
    # delete the run with its agent is an owner reference, and there is none.
    assert not run["metadata"].get("ownerReferences")


# --------------------------------------------------------------------------- interrupted


def test_runs_left_open_are_interrupted_and_the_agent_runs_again(
    kube: KubeClient, clock: FakeClock, namespace: str
) -> None:
    agent = _agent("forge", namespace)
    recorder = AgentRunRecorder(kube, clock)
    orphan = recorder.start(agent, Trigger.SCHEDULED, MODEL)
    finished = recorder.start(agent, Trigger.SCHEDULED, MODEL)
    recorder.finish(finished, namespace, _finished(clock))
    alive = recorder.start(agent, Trigger.MANUAL, MODEL)

    clock.advance(timedelta(minutes=5))
    closed = mark_interrupted(
        kube, namespace, now=clock.now(), owner_alive=lambda run: run["metadata"]["name"] == alive
    )
    assert closed == [orphan]
    status = _get(kube, namespace, orphan)["status"]
    assert status["phase"] == "Interrupted"
    assert status["reason"] == "Interrupted"
    assert status["completionTime"] == "2026-11-27T10:05:00Z"
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"]) == ("Complete", "False")
    assert condition["message"]
    assert _get(kube, namespace, finished)["status"]["phase"] == "Succeeded"
    assert _get(kube, namespace, alive)["status"]["phase"] == "Running"
    with pytest.raises(KubeInvalid):  # closed for good
        recorder.update(orphan, namespace, AgentRunStatus(phase=RunPhase.RUNNING))

    again = recorder.start(agent, Trigger.SCHEDULED, MODEL)
    recorder.finish(again, namespace, _finished(clock))
    assert _get(kube, namespace, again)["status"]["phase"] == "Succeeded"
    assert mark_interrupted(kube, namespace, now=clock.now()) == [alive]
    assert mark_interrupted(kube, namespace, now=clock.now()) == []


# --------------------------------------------------------------------------- retention


def test_apply_retention_deletes_exactly_the_old_runs(
    kube: KubeClient, clock: FakeClock, namespace: str
) -> None:
    recorder = AgentRunRecorder(kube, clock)
    names: dict[str, str] = {}
    plan = [  # (label, agent, days before the end, finished)
        ("s-old1", "scout", 30, True),
        ("s-old2", "scout", 20, True),
        ("s-old3", "scout", 10, True),
        ("s-new", "scout", 1, True),
        ("v-old0", "vigil", 35, True),
        ("v-old1", "vigil", 25, True),
        ("v-old2", "vigil", 15, True),
        ("v-stuck", "vigil", 40, False),
    ]
    end = T0 + timedelta(days=60)
    for label, agent, days, done in sorted(plan, key=lambda p: -p[2]):
        clock.current = end - timedelta(days=days)
        names[label] = recorder.start(_agent(agent, namespace), Trigger.SCHEDULED, MODEL)
        if done:
            recorder.finish(names[label], namespace, _finished(clock))

    deleted = apply_retention(kube, namespace, now=end, max_age=timedelta(days=7), keep_per_agent=2)
    # scout keeps s-new and s-old3; vigil keeps its two newest finished runs (the stuck
    # one, never finished, neither counts nor goes).
    expected = {names[k] for k in ("s-old1", "s-old2", "v-old0")}
    assert set(deleted) == expected
    left = {r["metadata"]["name"] for r in kube.list(API, "AgentRun", namespace).items}
    assert left == set(names.values()) - expected
    assert (
        apply_retention(kube, namespace, now=end, max_age=timedelta(days=7), keep_per_agent=2) == []
    )
