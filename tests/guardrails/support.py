"""Shared helpers of the guardrail tests: fixture policies, corpora and verdict checks.

The two fixtures (``fixtures/redteam`` and ``fixtures/benign``) are loaded the way
``infraagent guardrails check`` loads them; the corpora are JSON Lines of tool calls with
the verdict each must get. ``expect.rule`` is a prefix of the verdict's rule, or a list of
prefixes any one of which may match (where the issue's rule order makes two rules right).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from infraagent.guardrails.policy import Policy, build_policy
from infraagent.guardrails.verdict import Verdict
from infraagent.loading.bundle import load_bundle

HERE: Final = Path(__file__).parent
FIXTURES: Final = HERE / "fixtures"
CORPUS: Final = HERE / "corpus"
NOW: Final = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    """One corpus line: a tool call and the verdict it must get."""

    id: str
    tool: str
    input: Any
    expect: dict[str, Any]

    @property
    def rule_prefixes(self) -> tuple[str, ...]:
        rule = self.expect.get("rule")
        if rule is None:
            return ()
        return (rule,) if isinstance(rule, str) else tuple(rule)


def fixture_args(name: str) -> list[str]:
    """The ``--agent``/``--environment``/``--skills`` arguments for a fixture."""
    folder = FIXTURES / name
    return [
        "--agent",
        str(folder / "agent.yaml"),
        "--environment",
        str(folder / "environment.yaml"),
        "--skills",
        str(folder / "skills"),
    ]


@cache
def policy(name: str) -> Policy:
    """The compiled policy of fixture ``name`` (``redteam`` or ``benign``)."""
    folder = FIXTURES / name
    bundle = load_bundle(folder / "agent.yaml", folder / "environment.yaml", folder / "skills")
    assert bundle.ok, [d.message for d in bundle.diagnostics]
    assert bundle.agent is not None
    return build_policy(bundle.agent, bundle.environment, bundle.sheets)


@cache
def corpus(name: str) -> tuple[Case, ...]:
    """The cases of ``corpus/<name>.jsonl``, in file order."""
    lines = (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return tuple(Case(**json.loads(line)) for line in lines if line.strip())


def describe(verdict: Verdict) -> str:
    tier = verdict.tier.value if verdict.tier else None
    return (
        f"got decision={verdict.decision.value} tier={tier} rule={verdict.rule} "
        f"action={verdict.action} reason={verdict.reason!r}"
    )


def mismatches(case: Case, verdict: Verdict) -> list[str]:
    """How ``verdict`` differs from what ``case`` expects (empty when it matches)."""
    expect, found = case.expect, []
    if verdict.decision.value != expect["decision"]:
        found.append(f"decision {verdict.decision.value}, expected {expect['decision']}")
    if "tier" in expect:
        tier = verdict.tier.value if verdict.tier else None
        if tier != expect["tier"]:
            found.append(f"tier {tier}, expected {expect['tier']}")
    prefixes = case.rule_prefixes
    if prefixes and not verdict.rule.startswith(prefixes):
        found.append(f"rule {verdict.rule}, expected one starting with {' or '.join(prefixes)}")
    if "action" in expect and verdict.action != expect["action"]:
        found.append(f"action {verdict.action}, expected {expect['action']}")
    return found
