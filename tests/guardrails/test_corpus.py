"""The red-team and benign corpora, judged in process and through the command line.

``corpus/redteam.jsonl`` holds attacks made by an agent (``fixtures/redteam``) at autonomy
``automate-destructive`` whose only skill declares every action a sheet may declare: any
verb on any resource, any HTTP method to any URL. Whatever stops these calls is the
engine's own rules, so every one must be denied, and data mutations never proposed.
``corpus/benign.jsonl`` holds everyday calls of a realistic agent (``fixtures/benign``)
that must stay allowed: a guardrail that blocks everything is as useless as one that
blocks nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from infraagent.cli.main import main
from infraagent.guardrails.verdict import CooldownState
from infraagent.models.agentrun import Decision, Tier
from infraagent.tools.judge import judge
from tests.guardrails.support import (
    CORPUS,
    NOW,
    Case,
    corpus,
    describe,
    fixture_args,
    mismatches,
    policy,
)

REDTEAM = corpus("redteam")
BENIGN = corpus("benign")

# Every family of hard rule the issue names is attacked at least once.
REQUIRED_RULES = (
    "parse/invalid-input",
    "parse/unknown-tool",
    "parse/shell-metacharacter",
    "parse/identity-flag",
    "parse/forbidden-subcommand",
    "parse/file-input",
    "parse/syntax",
    "self-protection/rbac",
    "self-protection/credentials",
    "self-protection/admission",
    "self-protection/crd",
    "self-protection/infraagent",
    "self-protection/operator-namespace",
    "node-escape/privileged",
    "node-escape/host-namespace",
    "node-escape/host-path",
    "node-escape/capabilities",
    "http/scheme",
    "http/loopback",
    "http/link-local",
    "http/unspecified",
    "http/metadata-endpoint",
    "http/kube-apiserver",
    "http/private-address",
    "data-protection/pvc-delete",
    "data-protection/pv-delete",
    "data-protection/namespace-delete",
    "data-protection/secret-delete",
    "data-protection/snapshot-delete",
    "data-protection/data-operator-delete",
    "data-protection/reclaim-policy",
    "data-protection/finalizers",
    "data-protection/declared-resource",
    "data-protection/object-storage",
    "data-protection/database-endpoint",
    "data-protection/sql",
    "data-protection/statefulset-claims",
)


def _judge(fixture: str, case: Case) -> str:
    verdict = judge(case.tool, case.input, policy(fixture), CooldownState(), NOW)
    problems = mismatches(case, verdict)
    return f"{case.id}: {'; '.join(problems)} ({describe(verdict)})" if problems else ""


def test_corpora_are_large_and_well_formed() -> None:
    assert len(REDTEAM) >= 200
    assert len(BENIGN) >= 80
    ids = [c.id for c in (*REDTEAM, *BENIGN)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert {c.expect["decision"] for c in REDTEAM} == {"deny"}
    assert {c.expect["decision"] for c in BENIGN} == {"allow"}
    for case in REDTEAM:
        prefixes = case.rule_prefixes
        if prefixes and all(p.startswith("data-protection/") for p in prefixes):
            assert case.expect.get("tier") == "data-mutation", case.id
    covered = {p for c in REDTEAM for p in c.rule_prefixes}
    assert [r for r in REQUIRED_RULES if r not in covered] == []


@pytest.mark.parametrize("case", REDTEAM, ids=[c.id for c in REDTEAM])
def test_redteam_call_is_denied(case: Case) -> None:
    assert _judge("redteam", case) == ""


@pytest.mark.parametrize("case", BENIGN, ids=[c.id for c in BENIGN])
def test_benign_call_is_allowed(case: Case) -> None:
    assert _judge("benign", case) == ""


def test_every_data_mutation_is_escalated_never_proposed() -> None:
    """Whichever rule fires first, a data mutation is a deny that reaches a human."""
    wrong = []
    for case in REDTEAM:
        verdict = judge(case.tool, case.input, policy("redteam"), CooldownState(), NOW)
        if verdict.tier is Tier.DATA_MUTATION and (
            verdict.decision is not Decision.DENY or not verdict.escalate
        ):
            wrong.append(f"{case.id}: {describe(verdict)} escalate={verdict.escalate}")
    assert not wrong, "\n".join(wrong)


CONTROLS: tuple[tuple[str, dict[str, str], str], ...] = (
    ("kubectl", {"command": "delete deployment web -n shop"}, "everything/anything-kube"),
    ("kubectl", {"command": "delete node node-1"}, "everything/anything-kube-cluster"),
    ("kubectl", {"command": "delete pods --all -n shop"}, "everything/anything-kube"),
    (
        "http_request",
        {"method": "DELETE", "url": "https://status.example.com/api/v1/incidents/1"},
        "everything/anything-http",
    ),
    ("mcp__k8sgpt__analyze", {}, "everything/anything-mcp"),
)


@pytest.mark.parametrize(("tool", "tool_input", "action"), CONTROLS, ids=[c[2] for c in CONTROLS])
def test_redteam_agent_may_do_anything_the_hard_rules_allow(
    tool: str, tool_input: dict[str, str], action: str
) -> None:
    """The red-team denials come from the engine's rules, not from a narrow sheet."""
    verdict = judge(tool, tool_input, policy("redteam"), CooldownState(), NOW)
    assert (verdict.decision, verdict.action) == (Decision.ALLOW, action), describe(verdict)


def test_cli_judges_the_whole_redteam_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    path: Path = CORPUS / "redteam.jsonl"
    status = main(["guardrails", "check", *fixture_args("redteam"), "--input", str(path)])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(lines) == len(REDTEAM)
    wrong = []
    for case, line in zip(REDTEAM, lines, strict=True):
        got = json.loads(line)
        assert set(got) == {"decision", "tier", "rule", "reason", "action"}
        verdict = judge(case.tool, case.input, policy("redteam"), CooldownState(), NOW)
        same = (got["decision"], got["tier"], got["rule"], got["action"]) == (
            verdict.to_json()["decision"],
            verdict.to_json()["tier"],
            verdict.rule,
            verdict.action,
        )
        # The command line refuses a non-object input before judging it.
        same = same or (got["decision"] == "deny" and got["rule"] == "invalid-input")
        if got["decision"] != case.expect["decision"] or not same:
            wrong.append(f"{case.id}: cli {got}, in process {verdict.to_json()}")
    assert not wrong, "\n".join(wrong)


def test_cli_answers_a_malformed_line_with_a_deny(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = tmp_path / "calls.jsonl"
    calls.write_text('not json\n{"tool": "kubectl", "input": {"command": "get pods -n shop"}}\n')
    status = main(["guardrails", "check", *fixture_args("benign"), "--input", str(calls)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0
    assert [(o["decision"], o["rule"]) for o in out] == [
        ("deny", "invalid-input"),
        ("allow", "allow/read"),
    ]
