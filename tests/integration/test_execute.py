"""Runs executed on the cluster: everything resolved from the API server, tools run as the
agent, the AgentRun written as the run goes and finished; missing pieces end it Failed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import AgentRun, Outcome, RunPhase
from infraagent.models.common import GROUP_VERSION
from infraagent.models.keys import skill_configmap_name
from infraagent.models.requests import CanonicalRequest
from infraagent.operator.execute import execute_run
from infraagent.ports import RunRequest, ToolExecutor, ToolOutput

from .test_execute_support import (
    AGENT,
    KEY,
    MODEL,
    REPORT,
    RESTARTED_AT,
    Fleet,
    agent_manifest,
    fleet,
    kubectl,
)

__all__ = ["fleet"]  # the fixture


def _request(fleet: Fleet, lag: timedelta = timedelta(seconds=2)) -> RunRequest:
    now = fleet.clock.value
    return RunRequest(fleet.namespace, AGENT, "scheduled", now, scheduled_time=now - lag)


def _record(fleet: Fleet, name: str) -> tuple[AgentRun, dict[str, Any]]:
    raw = fleet.agentrun(name)
    return AgentRun.model_validate(raw), raw


def test_a_scheduled_run_reads_restarts_and_is_recorded(fleet: Fleet) -> None:
    ns = fleet.namespace
    turns = [
        kubectl(f"get pods -n {ns}"),
        kubectl(f"rollout restart deployment/web -n {ns}"),
        kubectl(f"get leases -n {ns}"),
        REPORT,
    ]
    started: list[str] = []
    with fleet.serve(turns) as server:
        outcome = execute_run(_request(fleet), fleet.deps(), started.append)
    assert outcome.phase == "Succeeded" and outcome.run_name == started[0]
    assert len(server.requests) == 4
    run, raw = _record(fleet, started[0])
    assert run.spec.agentRef == AGENT and run.spec.modelUsed == f"anthropic/{MODEL}"
    assert run.metadata.labels["infraagent.io/agent"] == AGENT
    status = run.status
    assert status is not None and status.phase is RunPhase.SUCCEEDED
    # planned 2 s before the injected clock's first reading (which moves it 10 ms)
    assert status.scheduleLagMs == 2010
    read, restart, leases = status.ledger
    assert (read.outcome, restart.outcome) == (Outcome.EXECUTED, Outcome.EXECUTED)
    assert "web-0" in read.result
    assert "deployment.apps/web restarted" in restart.result
    assert RESTARTED_AT in fleet.annotations()
    # allowed by the guardrails, refused by the agent's RBAC: the API server's 403 comes back
    assert leases.outcome is Outcome.FAILED and "(Forbidden)" in leases.result
    assert fleet.username in leases.result
    assert status.usage is not None and status.usage.totalTokens > 0
    assert status.usage.estimatedCost != "0"
    assert status.findings[0].message == "web was stuck"
    assert KEY not in json.dumps(raw)


def test_with_recommend_the_restart_is_proposed_not_executed(fleet: Fleet) -> None:
    ns = fleet.namespace
    fleet.admin.apply(agent_manifest(ns, autonomy="recommend"))
    turns = [kubectl(f"rollout restart deployment/web -n {ns}"), REPORT]
    with fleet.serve(turns):
        outcome = execute_run(_request(fleet), fleet.deps())
    assert outcome.run_name is not None
    run, _ = _record(fleet, outcome.run_name)
    assert run.status is not None
    assert [e.outcome for e in run.status.ledger] == [Outcome.PROPOSED]
    assert run.status.proposals[0].requests[0].startswith("patch")
    assert RESTARTED_AT not in fleet.annotations()


def test_a_missing_skill_configmap_fails_the_run_naming_it(fleet: Fleet) -> None:
    fleet.admin.delete("v1", "ConfigMap", skill_configmap_name("ops"), fleet.namespace)
    with fleet.serve([REPORT]) as server:
        outcome = execute_run(_request(fleet), fleet.deps())
    assert outcome.phase == "Failed" and outcome.run_name is not None
    assert server.requests == ()  # the model is never asked
    run, raw = _record(fleet, outcome.run_name)
    assert run.status is not None and run.status.reason == "SkillNotFound"
    message = run.status.conditions[0].message or ""
    missing = f"ConfigMap {fleet.namespace}/{skill_configmap_name('ops')} was not found"
    assert message == f"skill 'ops': {missing}"
    assert KEY not in json.dumps(raw)


def test_a_broken_action_sheet_fails_the_run_instead_of_running_without_it(
    fleet: Fleet,
) -> None:
    configmap = fleet.admin.get("v1", "ConfigMap", skill_configmap_name("ops"), fleet.namespace)
    configmap["data"]["actions.yaml"] = "actions:\n  - id: restart\n    tier: sideways\n"
    fleet.admin.apply(configmap)
    with fleet.serve([REPORT]) as server:
        outcome = execute_run(_request(fleet), fleet.deps())
    assert outcome.phase == "Failed" and server.requests == ()
    assert outcome.run_name is not None
    run, _ = _record(fleet, outcome.run_name)
    assert run.status is not None and run.status.reason == "InvalidActionSheet"
    assert "skill 'ops'" in (run.status.conditions[0].message or "")


def test_missing_tier_and_secret_fail_the_run_with_their_names(fleet: Fleet) -> None:
    outcome = execute_run(_request(fleet), fleet.deps())  # no ModelTierConfig served yet
    assert outcome.run_name is not None
    run, _ = _record(fleet, outcome.run_name)
    assert run.status is not None and run.status.reason == "ModelTierNotFound"
    assert run.spec.modelUsed is None

    fleet.admin.delete("v1", "Secret", "llm-key", fleet.namespace)
    with fleet.serve([REPORT]):
        outcome = execute_run(_request(fleet), fleet.deps())
    assert outcome.run_name is not None
    run, _ = _record(fleet, outcome.run_name)
    assert run.status is not None and run.status.reason == "SecretNotFound"
    assert f"Secret {fleet.namespace}/llm-key" in (run.status.conditions[0].message or "")


def test_an_agent_that_does_not_exist_leaves_no_record(fleet: Fleet) -> None:
    request = RunRequest(fleet.namespace, "nobody", "manual", fleet.clock.value)
    assert execute_run(request, fleet.deps()).run_name is None
    runs = fleet.admin.list("core.infraagent.io/v1alpha1", "AgentRun", fleet.namespace)
    assert runs.items == []


@dataclass
class Watching:
    """An executor that looks at the run's AgentRun before each call it executes."""

    inner: ToolExecutor
    fleet: Fleet
    seen: list[tuple[str, int]] = field(default_factory=list)

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput:
        (run,) = self.fleet.admin.list(GROUP_VERSION, "AgentRun", self.fleet.namespace).items
        status = run.get("status") or {}
        self.seen.append((status.get("phase", ""), len(status.get("ledger") or [])))
        return self.inner.execute(tool, arguments, requests)


def test_the_agentrun_shows_the_run_while_it_goes(fleet: Fleet) -> None:
    ns = fleet.namespace
    deps = fleet.deps()
    watching: list[Watching] = []

    def executor_for(agent: InfraAgent) -> ToolExecutor:
        watching.append(Watching(deps.executor_for(agent), fleet))
        return watching[-1]

    turns = [kubectl(f"get pods -n {ns}"), kubectl(f"get deployments -n {ns}"), REPORT]
    with fleet.serve(turns):
        outcome = execute_run(_request(fleet), replace(deps, executor_for=executor_for))
    assert outcome.phase == "Succeeded"
    assert watching[0].seen == [("Running", 0), ("Running", 1)]


def test_a_configmap_skill_source_is_read_with_its_key(fleet: Fleet) -> None:
    ns = fleet.namespace
    ops = fleet.admin.get("v1", "ConfigMap", skill_configmap_name("ops"), ns)
    fleet.admin.delete("v1", "ConfigMap", skill_configmap_name("ops"), ns)
    custom = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "team-ops", "namespace": ns},
        "data": {"guide.md": "Restart what is stuck.", "actions.yaml": ops["data"]["actions.yaml"]},
    }
    fleet.admin.create(custom)
    agent = agent_manifest(ns)
    skills = [{"name": "ops", "source": "configmap://team-ops/guide.md"}]
    fleet.admin.apply({**agent, "spec": {**agent["spec"], "skills": skills}})
    turns = [kubectl(f"rollout restart deployment/web -n {ns}"), REPORT]
    with fleet.serve(turns) as server:
        outcome = execute_run(_request(fleet), fleet.deps())
    assert outcome.phase == "Succeeded"
    assert RESTARTED_AT in fleet.annotations()  # the sheet's action was there
    assert "Restart what is stuck." in json.dumps(server.requests[0].body)
