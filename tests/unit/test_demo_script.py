"""The demo conversations the scripted model plays for this repository's example agents.

Every example agent (``agents/*.yaml`` with its skills' Action Sheets and environment) gets
a script that loads, whose calls the guardrail parser understands and the engine does not
deny, that plays through the real agent loop to a report with findings, and that the
scripted server answers for the model of any tier. The demo must show a proposal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.guardrails.policy import build_policy
from infraagent.guardrails.verdict import CooldownState
from infraagent.models import ActionSheet, AgentEnvironment, InfraAgent
from infraagent.models.agentrun import Decision, Outcome, RunPhase
from infraagent.models.conversation import Completion, CompletionRequest, TokenUsage, ToolCall
from infraagent.models.requests import CanonicalRequest, KubeRequest
from infraagent.ports import ToolOutput
from infraagent.providers.scripted import ScriptedServer, parse_script
from infraagent.providers.scripted.demo import concrete_url, demo_script
from infraagent.providers.scripted.script import Script, ScriptTurn
from infraagent.redaction import Redactor
from infraagent.runtime.assemble import agent_input, run_settings
from infraagent.runtime.loop import RunPorts, run_agent
from infraagent.runtime.record import extract_findings, run_status
from infraagent.runtime.text import request_tokens
from infraagent.tools.judge import judge, parse_call

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def _documents(pattern: str) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(ROOT.glob(pattern))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


AGENTS = {d["metadata"]["name"]: InfraAgent.model_validate(d) for d in _documents("agents/*.yaml")}
ENVIRONMENTS = {
    d["metadata"]["name"]: AgentEnvironment.model_validate(d)
    for d in _documents("environments/*.yaml")
    if d.get("kind") == "AgentEnvironment"
}
SHEETS = {
    path.parent.name: ActionSheet.model_validate(yaml.safe_load(path.read_text()) or {})
    for path in sorted(ROOT.glob("skills/*/actions.yaml"))
}
TIERS = next(d for d in _documents("environments/*.yaml") if d.get("kind") == "ModelTierConfig")


def _setup(name: str) -> tuple[InfraAgent, AgentEnvironment | None, dict[str, ActionSheet]]:
    agent = AGENTS[name]
    sheets = {ref.name: SHEETS[ref.name] for ref in agent.spec.skills if ref.name in SHEETS}
    return agent, ENVIRONMENTS.get(agent.spec.environmentRef or ""), sheets


def _calls(script: Script) -> list[tuple[str, dict[str, Any]]]:
    return [
        (call.name, call.input)
        for turn in script.turns
        if isinstance(turn, ScriptTurn)
        for call in turn.tool_calls
    ]


def test_the_examples_are_all_here() -> None:
    assert len(AGENTS) == 12


# --------------------------------------------------------------------------- the scripts


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_each_script_loads_and_its_calls_parse(name: str) -> None:
    agent, environment, sheets = _setup(name)
    script = demo_script(agent, sheets, environment)
    text = yaml.safe_dump(script.model_dump(mode="json", exclude_none=True))
    assert parse_script(text, f"{name}.yaml") == script  # as a script file, too
    calls = _calls(script)
    assert 2 <= len(calls) <= 3  # one or two reads, at most one mutation
    for tool, tool_input in calls:
        assert parse_call(tool, tool_input), f"{name}: {tool} {tool_input}"
    assert len(script.turns) <= agent.spec.guardrails.maxIterations
    last = script.turns[-1]
    assert isinstance(last, ScriptTurn) and not last.tool_calls
    assert extract_findings(last.text), f"{name}: the report has no findings"


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_each_call_is_the_agents_own(name: str) -> None:
    """Reads look where the environment says; declared calls match the agent's skills."""
    agent, environment, sheets = _setup(name)
    policy = build_policy(agent, environment, sheets)
    assert environment is not None and environment.spec.namespaces is not None
    spaces = environment.spec.namespaces
    own = {*spaces.apps, *spaces.monitoring, *spaces.system}
    skills = {ref.name for ref in agent.spec.skills}
    for tool, tool_input in _calls(demo_script(agent, sheets, environment)):
        verdict = judge(tool, tool_input, policy, CooldownState(), NOW)
        assert verdict.decision is not Decision.DENY, f"{name}: {verdict.reason}"
        for request in parse_call(tool, tool_input):
            if isinstance(request, KubeRequest) and request.namespace is not None:
                assert request.namespace in own
        if tool != "kubectl" or verdict.action:
            assert verdict.action is not None and verdict.action.split("/")[0] in skills


def test_the_scripts_differ_by_agent() -> None:
    distinct = set()
    for name in AGENTS:
        agent, environment, sheets = _setup(name)
        distinct.add(json.dumps(_calls(demo_script(agent, sheets, environment)), sort_keys=True))
    assert len(distinct) >= 10  # agents with the same skills may look alike, most do not


def test_a_destructive_action_becomes_a_proposal_and_a_safe_one_is_allowed() -> None:
    decisions: dict[str, list[Decision]] = {}
    for name in AGENTS:
        agent, environment, sheets = _setup(name)
        policy = build_policy(agent, environment, sheets)
        decisions[name] = [
            judge(tool, tool_input, policy, CooldownState(), NOW).decision
            for tool, tool_input in _calls(demo_script(agent, sheets, environment))
        ]
    # watchman-light (automate-safe) may delete a stuck pod only through a human.
    assert decisions["watchman-light"][-1] is Decision.PROPOSE
    # forge (automate-safe) syncs an application on its own.
    assert decisions["forge"][-1] is Decision.ALLOW
    # hello-world (observe, no actions) only reads.
    assert set(decisions["hello-world"]) == {Decision.ALLOW}


def test_few_iterations_merge_the_calls_into_fewer_turns() -> None:
    agent, environment, sheets = _setup("watchman-light")
    full = demo_script(agent, sheets, environment)
    for iterations, turns in ((1, 1), (2, 2), (3, 3), (10, 3)):
        data = agent.model_dump(mode="json", exclude_none=True)
        data["spec"]["guardrails"]["maxIterations"] = iterations
        short = demo_script(InfraAgent.model_validate(data), sheets, environment)
        assert len(short.turns) == turns
        assert _calls(short) == (_calls(full) if iterations > 1 else [])


def test_without_an_environment_it_still_reads_the_cluster() -> None:
    agent, _, sheets = _setup("hello-world")
    script = demo_script(agent, sheets, None)
    assert _calls(script)[0] == ("kubectl", {"command": "get pods -n default"})


def test_every_url_glob_of_the_examples_gets_a_url_it_matches() -> None:
    globs = [
        glob
        for sheet in SHEETS.values()
        for action in sheet.actions
        if action.http is not None
        for glob in action.http.urls
    ]
    assert len(globs) > 30
    for glob in globs:
        url = concrete_url(glob, "backstage", {})
        assert fnmatchcase(url, glob), (glob, url)
        parse_call("http_request", {"method": "GET", "url": url})
    health = {"https://platform.dev-lab.example.com/": "healthcheck"}
    assert (
        concrete_url("https://platform.dev-lab.example.com/*", "x", health)
        == "https://platform.dev-lab.example.com/healthcheck"
    )


# --------------------------------------------------------------------------- played


@dataclass
class ScriptModel:
    """Plays a Script's turns as completions (what the scripted server sends, decoded)."""

    script: Script
    requests: list[CompletionRequest] = field(default_factory=list)

    def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        turn = self.script.turns[len(self.requests) - 1]
        assert isinstance(turn, ScriptTurn)
        calls = tuple(
            ToolCall(f"call-{len(self.requests)}-{i}", c.name, c.input)
            for i, c in enumerate(turn.tool_calls)
        )
        stop = "tool_use" if calls else "end_turn"
        return Completion(turn.text, calls, stop, TokenUsage(request_tokens(request), 80))


@dataclass
class Tools:
    calls: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput:
        self.calls.append((tool, arguments))
        return ToolOutput("No resources found.")


@dataclass
class Clock:
    value: datetime = NOW

    def now(self) -> datetime:
        self.value += timedelta(milliseconds=200)
        return self.value


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_each_script_plays_through_the_agent_loop(name: str) -> None:
    agent, environment, sheets = _setup(name)
    script = demo_script(agent, sheets, environment)
    tier = next(t for t in TIERS["spec"]["tiers"] if t["tier"] == agent.spec.model.tier.value)
    settings = run_settings(agent, None, tier["model"])
    model, tools = ScriptModel(script), Tools()
    ports = RunPorts(model, tools, Redactor.with_values([]), Clock())
    result = run_agent(agent_input(agent, environment, sheets, {}), settings, ports)
    assert (result.phase, result.reason) == (RunPhase.SUCCEEDED, "Completed"), result.report
    assert result.iterations == len(script.turns)
    assert all(entry.decision is not Decision.DENY for entry in result.ledger)
    executed = [e for e in result.ledger if e.outcome is Outcome.EXECUTED]
    assert len(executed) == len(tools.calls) == len(result.ledger) - len(result.proposals)
    assert run_status(result, None).findings == extract_findings(script.turns[-1].text)  # type: ignore[union-attr]
    if name == "watchman-light":
        assert len(result.proposals) == 1 and not any(
            t == "kubectl" and "delete" in str(a) for t, a in tools.calls
        )


@pytest.mark.parametrize("api", ["anthropic", "openai"])
@pytest.mark.parametrize("tier", [t["tier"] for t in TIERS["spec"]["tiers"]])
def test_the_server_plays_it_for_the_model_of_every_tier(tier: str, api: str) -> None:
    agent, environment, sheets = _setup("watchman-light")
    script = demo_script(agent, sheets, environment)
    model = next(t["model"] for t in TIERS["spec"]["tiers"] if t["tier"] == tier)
    server = ScriptedServer(script)
    user = {"role": "user", "content": "Begin the scheduled run."}
    if api == "anthropic":
        target, body = "/v1/messages", {"model": model, "max_tokens": 512, "messages": [user]}
    else:
        target, body = "/v1/chat/completions", {"model": model, "messages": [user]}
    answer = server.handle("POST", target, {}, json.dumps(body).encode())
    assert answer.status == 200 and answer.body["model"] == model
    if api == "anthropic":
        names = [b["name"] for b in answer.body["content"] if b["type"] == "tool_use"]
    else:
        names = [c["function"]["name"] for c in answer.body["choices"][0]["message"]["tool_calls"]]
    assert names == [name for name, _ in _calls(script)[:2]]


def test_a_call_the_guardrails_would_deny_is_never_scripted() -> None:
    """The sheet's first URL is a database endpoint: a POST there is a data mutation."""
    gv = "core.infraagent.io/v1alpha1"
    agent = InfraAgent.model_validate(
        {
            "apiVersion": gv,
            "kind": "InfraAgent",
            "metadata": {"name": "fixer"},
            "spec": {
                "description": "Restarts the shop's workers",
                "schedule": {"interval": "5m"},
                "model": {"tier": "fast"},
                "skills": [{"name": "ops"}],
                "guardrails": {"autonomy": "automate-safe"},
                "environmentRef": "lab",
            },
        }
    )
    environment = AgentEnvironment.model_validate(
        {
            "apiVersion": gv,
            "kind": "AgentEnvironment",
            "metadata": {"name": "lab"},
            "spec": {
                "endpoints": {
                    "db": {"url": "http://db.lab:8080", "kind": "database"},
                    "shop": {"url": "https://shop.lab"},
                }
            },
        }
    )
    sheet = ActionSheet.model_validate(
        {
            "actions": [
                {
                    "id": "restart-workers",
                    "description": "Ask a service to restart its workers",
                    "tier": "service-mutation",
                    "http": {
                        "methods": ["POST"],
                        "urls": ["http://db.lab:8080/admin/*", "https://shop.lab/admin/*"],
                    },
                }
            ]
        }
    )
    calls = _calls(demo_script(agent, {"ops": sheet}, environment))
    assert calls[-1][0] == "http_request"
    assert calls[-1][1]["url"].startswith("https://shop.lab/admin/")
    assert not any("db.lab" in str(tool_input) for _, tool_input in calls)
