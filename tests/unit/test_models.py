"""The custom-resource models accept what the product documents and refuse the rest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from infraagent.models import (
    ActionSheet,
    AgentEnvironment,
    AgentRun,
    InfraAgent,
    ModelTierConfig,
    SkillManifest,
)
from infraagent.models.agentrun import (
    MAX_LEDGER_ENTRIES,
    MAX_REPORT_CHARS,
    MAX_RESULT_CHARS,
    AgentRunStatus,
    Decision,
    Escalation,
    Finding,
    LedgerEntry,
    Outcome,
    Proposal,
    Severity,
    Tier,
    fit_status,
    truncate_text,
)
from infraagent.models.common import error_location, format_duration, parse_duration
from infraagent.models.crd import all_crds

GV = "core.infraagent.io/v1alpha1"


def agent(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "description": "Probe endpoints",
        "schedule": {"cron": "*/5 * * * *"},
        "model": {"tier": "fast"},
        "skills": [{"name": "endpoint-monitoring"}],
        "guardrails": {"autonomy": "observe"},
        "environmentRef": "dev-lab",
    }
    base.update(spec)
    return {"apiVersion": GV, "kind": "InfraAgent", "metadata": {"name": "w"}, "spec": base}


def errors(model: Any, data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """(location, message) of every error, with FieldPathError paths appended."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(error_location(e), e["msg"]) for e in caught.value.errors()]


def test_minimal_agent_gets_the_documented_defaults() -> None:
    parsed = InfraAgent.model_validate(agent())
    assert parsed.spec.model.tokenBudget == 50000
    assert parsed.spec.model.timeout == "120s"
    assert parsed.spec.guardrails.maxIterations == 10
    assert parsed.spec.schedule.timezone == "UTC"
    assert parsed.spec.skills[0].source == "repo"
    assert parsed.spec.skills[0].parsed_source.kind == "repo"


def test_models_are_frozen() -> None:
    parsed = InfraAgent.model_validate(agent())
    with pytest.raises(ValidationError):
        parsed.spec.paused = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ({"cron": "61 * * * *"}, "invalid minute field"),
        ({"cron": "*/5 * * * * *"}, "has 6 fields"),
        ({"cron": "0 0 30 2 *"}, "never fires"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"cron": "0 * * * *", "interval": "1h"}, "either cron or interval"),
        ({}, "needs cron, interval or at least one trigger"),
        ({"interval": "5s"}, "outside the allowed range"),
        ({"interval": "1d"}, "no days"),
        ({"triggers": [{"type": "kubernetes-event"}]}, "never implemented"),
        ({"triggers": [{"type": "webhook", "filter": "x > 1"}]}, "never evaluated"),
    ],
)
def test_bad_schedules_are_refused_with_a_sentence(schedule: dict[str, Any], needle: str) -> None:
    found = errors(InfraAgent, agent(schedule=schedule))
    assert any(needle in msg for _, msg in found), found


def test_trigger_only_and_interval_only_schedules_are_fine() -> None:
    InfraAgent.model_validate(agent(schedule={"triggers": [{"type": "webhook"}]}))
    InfraAgent.model_validate(agent(schedule={"interval": "21600s"}))


@pytest.mark.parametrize(
    ("spec", "loc"),
    [
        ({"model": {"tokenBudget": 10}}, ("spec", "model", "tokenBudget")),
        ({"model": {"timeout": "48h"}}, ("spec", "model", "timeout")),
        ({"guardrails": {"maxIterations": 0}}, ("spec", "guardrails", "maxIterations")),
        ({"guardrails": {"autonomy": "yolo"}}, ("spec", "guardrails", "autonomy")),
        ({"environmentRef": "Dev_Lab"}, ("spec", "environmentRef")),
        ({"skills": []}, ("spec", "skills")),
        ({"skills": [{"name": "a"}, {"name": "a"}]}, ("spec", "skills", 1, "name")),
        ({"guardrails": {"allowedActions": ["a/[b"]}}, ("spec", "guardrails", "allowedActions", 0)),
        ({"schedulee": {}}, ("spec", "schedulee")),
    ],
)
def test_bounds_enums_names_and_unknown_fields(spec: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert loc in [found for found, _ in errors(InfraAgent, agent(**spec))]


def test_agent_names_must_fit_a_label() -> None:
    data = agent()
    data["metadata"]["name"] = "a" * 64
    assert any("label value" in msg for _, msg in errors(InfraAgent, data))


def test_escalation_to_a_channel_needs_its_name() -> None:
    found = errors(InfraAgent, agent(guardrails={"escalation": {"target": "channel"}}))
    assert any("needs channelName" in msg for _, msg in found)


@pytest.mark.parametrize(
    "source",
    [
        "repo",
        "configmap://team-skills",
        "configmap://team-skills/SKILL.md",
        "git://github.com/acme/skills",
        "git://github.com/acme/skills#ops/restart@v1.2.0",
        "git://git.example.com:8443/acme/skills@0123abcd",
    ],
)
def test_skill_sources_accepted(source: str) -> None:
    InfraAgent.model_validate(agent(skills=[{"name": "s", "source": source}]))


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("bundled", "was a stub in the original"),
        ("configmap", "literally named 'configmap'"),
        ("configmap://../etc", "not a DNS-1123 label"),
        ("configmap://cm/../../x", "not a valid ConfigMap key"),
        ("git://github.com/acme/skills#../../etc", "path traversal"),
        ("git://github.com/acme/skills#/abs", "relative path"),
        ("git://github.com/acme", "expected git://"),
        ("git://github.com/acme/skills@", "not a valid ref"),
        ("git://github.com/acme/skills@--upload-pack=x", "not a valid ref"),
        ("https://github.com/acme/skills", "unknown skill source"),
    ],
)
def test_malformed_skill_sources_refused(source: str, needle: str) -> None:
    found = errors(InfraAgent, agent(skills=[{"name": "s", "source": source}]))
    assert any(needle in msg for _, msg in found), found


def action(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "restart-web",
        "description": "Restart web",
        "tier": "service-mutation",
        "kube": {"verbs": ["patch"], "resources": ["deployments.apps"], "namespaces": ["shop"]},
    }
    base.update(fields)
    return base


def test_action_sheet_example_from_the_docs_parses() -> None:
    sheet = ActionSheet.model_validate(
        {
            "actions": [
                action(
                    http={"methods": ["GET"], "urls": ["https://status.example.com/*"]},
                    mcp={"server": "k8sgpt", "tools": ["analyze"]},
                    cooldown="10m",
                    rollback={"description": "kubectl rollout undo", "automatic": False},
                )
            ]
        }
    )
    assert sheet.actions[0].kube is not None
    assert sheet.actions[0].kube.names == ["*"]


@pytest.mark.parametrize(
    ("fields", "loc", "needle"),
    [
        ({"tier": "data-mutation"}, ("actions", 0, "tier"), "never automated"),
        ({"tool": "kubectl.delete"}, ("actions", 0, "tool"), "declare what the action does"),
        ({"kube": None}, ("actions", 0), "at least one matcher"),
        ({"tier": "harmless"}, ("actions", 0, "tier"), "Input should be"),
        ({"kube": {"verbs": ["destroy"], "resources": ["pods"]}}, None, "not a Kubernetes verb"),
        ({"kube": {"verbs": ["get"], "resources": ["Pods"]}}, None, "not a resource"),
        ({"kube": {"verbs": ["get"], "resources": ["pods"], "names": ["[x"]}}, None, "unclosed"),
        ({"http": {"methods": ["GET"], "urls": ["ftp://x/*"]}}, None, "must start with http"),
        ({"http": {"methods": ["FETCH"], "urls": ["https://x/*"]}}, None, "not an HTTP method"),
        ({"cooldown": "1 day"}, None, "not a duration"),
        ({"sideEffects": "none"}, ("actions", 0, "sideEffects"), "Extra inputs"),
    ],
)
def test_bad_actions_refused(fields: dict[str, Any], loc: Any, needle: str) -> None:
    found = errors(ActionSheet, {"actions": [action(**fields)]})
    assert any(needle in msg for _, msg in found), found
    if loc is not None:
        assert loc in [where for where, _ in found], found


def test_duplicate_action_ids_point_at_the_second_entry() -> None:
    with pytest.raises(ValidationError) as caught:
        ActionSheet.model_validate({"actions": [action(), action()]})
    error = caught.value.errors()[0]
    assert "declared twice" in error["msg"]
    assert error["ctx"]["error"].path == (1, "id")


def test_skill_manifest_version_must_be_text() -> None:
    found = errors(SkillManifest, {"name": "x", "description": "d", "version": 1.0})
    assert any("quote it" in msg for _, msg in found)


def environment(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": GV, "kind": "AgentEnvironment", "metadata": {"name": "e"}, "spec": spec}


def test_environment_checks() -> None:
    bad_ref = environment(endpoints={"gh": {"url": "https://api.github.com", "credential": "gh"}})
    assert any("not in spec.credentials" in m for _, m in errors(AgentEnvironment, bad_ref))
    creds_in_url = environment(endpoints={"x": {"url": "https://u:p@example.com"}})
    assert any("carries credentials" in m for _, m in errors(AgentEnvironment, creds_in_url))
    kubeconfig = environment(connection={"kind": "kubeconfig"})
    assert any("needs kubeconfig" in m for _, m in errors(AgentEnvironment, kubeconfig))
    AgentEnvironment.model_validate(
        environment(
            endpoints={"gh": {"url": "https://api.github.com", "credential": "gh"}},
            credentials={"gh": {"secretRef": "github-pat", "type": "token"}},
        )
    )


def tiers(*mappings: dict[str, Any], auth: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"tiers": list(mappings)}
    if auth:
        spec["defaultAuth"] = auth
    return {"apiVersion": GV, "kind": "ModelTierConfig", "metadata": {"name": "d"}, "spec": spec}


def test_model_tier_checks() -> None:
    key = {"type": "apiKey", "secretRef": "llm"}
    fast = {"tier": "fast", "provider": "anthropic", "model": "m"}
    assert ModelTierConfig.model_validate(tiers(fast, auth=key)).spec.tiers[0].maxTokens == 4096
    assert any("mapped twice" in m for _, m in errors(ModelTierConfig, tiers(fast, fast, auth=key)))
    ollama = {"tier": "fast", "provider": "ollama", "model": "llama3"}
    assert any("needs an endpoint" in m for _, m in errors(ModelTierConfig, tiers(ollama)))
    oauth = {"type": "oauth", "secretRef": "x"}
    assert any(
        "never implemented" in m for _, m in errors(ModelTierConfig, tiers(fast, auth=oauth))
    )
    assert any("no auth" in m for _, m in errors(ModelTierConfig, tiers(fast)))
    price = {**fast, "costPerMillionInput": "cheap"}
    assert errors(ModelTierConfig, tiers(price, auth=key))


def _huge_status() -> AgentRunStatus:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    entry = LedgerEntry(
        seq=1,
        time=now,
        tool="kubectl",
        requests=["x" * 2000] * 16,
        tier=Tier.READ,
        decision=Decision.ALLOW,
        rule="r" * 128,
        reason="y" * 5000,
        action="a" * 128,
        outcome=Outcome.EXECUTED,
        result="z" * 50_000,
    )
    proposal = Proposal(
        seq=1, tool="t" * 128, requests=["p" * 900] * 40, tier=Tier.READ, rationale="w" * 9000
    )
    return AgentRunStatus(
        ledger=[entry.model_copy(update={"seq": i + 1}) for i in range(1000)],
        findings=[Finding(severity=Severity.CRITICAL, message="m" * 5000)] * 500,
        proposals=[proposal] * 500,
        escalations=[Escalation(time=now, rule="r", message="e" * 5000)] * 500,
        report="R" * 1_000_000,
    )


def _assert_within_crd_limits(value: Any, schema: dict[str, Any], where: str = "") -> None:
    if isinstance(value, str) and "maxLength" in schema:
        assert len(value) <= schema["maxLength"], where
    if isinstance(value, list):
        assert len(value) <= schema.get("maxItems", len(value)), where
        for index, item in enumerate(value):
            _assert_within_crd_limits(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        for key, item in value.items():
            _assert_within_crd_limits(item, schema["properties"][key], f"{where}.{key}")


def test_size_policy_keeps_a_long_run_well_under_one_mebibyte() -> None:
    fitted = fit_status(_huge_status())
    crd = all_crds()["core.infraagent.io_agentruns.yaml"]
    status_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    _assert_within_crd_limits(fitted.model_dump(mode="json", exclude_none=True), status_schema)
    assert fit_status(fitted).ledger == fitted.ledger
    size = len(json.dumps(fitted.model_dump(mode="json")).encode())
    print(f"worst-case AgentRun status: {size / 1024:.0f} KiB")
    assert size < 700 * 1024
    assert len(fitted.ledger) == MAX_LEDGER_ENTRIES
    assert fitted.ledger[0].seq == 1 and fitted.ledger[-1].seq == 1000
    assert fitted.truncation is not None
    assert fitted.truncation.ledgerEntriesOmitted == 1000 - MAX_LEDGER_ENTRIES
    assert len(fitted.report) == MAX_REPORT_CHARS
    assert len(fitted.ledger[0].result) == MAX_RESULT_CHARS


def test_truncate_text_keeps_head_and_tail() -> None:
    text = "HEAD" + "-" * 10_000 + "TAIL"
    cut = truncate_text(text, 100)
    assert len(cut) == 100 and cut.startswith("HEAD") and cut.endswith("TAIL")
    assert "truncated" in cut
    assert truncate_text("short", 100) == "short"


def test_agentrun_round_trips() -> None:
    run = AgentRun.model_validate(
        {
            "apiVersion": GV,
            "kind": "AgentRun",
            "metadata": {"generateName": "w-", "namespace": "agents"},
            "spec": {"agentRef": "w", "environmentRef": "dev-lab", "trigger": "manual"},
            "status": {"phase": "Succeeded", "usage": {"totalTokens": 10}},
        }
    )
    again = AgentRun.model_validate(run.model_dump(mode="json"))
    assert again == run


@given(st.integers(min_value=0, max_value=10**7))
def test_durations_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["1d", "-5m", "5", "1h 30m", "", "m", "1.h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
