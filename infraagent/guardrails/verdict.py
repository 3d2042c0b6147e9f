"""Verdicts and cooldown state: the engine's output and its one piece of memory.

A ``Verdict`` says what happens to one tool call: ``allow`` (execute now), ``propose``
(needs a human; routed as a pull request) or ``deny``, with the computed tier, a stable
rule id, a plain sentence, the matched action and the canonical requests. ``CooldownState``
is an immutable snapshot of when each action was last used; the runtime persists it and
records uses, the engine only reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

from infraagent.models.agentrun import Decision, Tier
from infraagent.models.requests import CanonicalRequest

TIER_ORDER: Final = {
    Tier.READ: 0,
    Tier.SERVICE_MUTATION: 1,
    Tier.DESTRUCTIVE_MUTATION: 2,
    Tier.DATA_MUTATION: 3,
}
_DECISION_ORDER: Final = {Decision.ALLOW: 0, Decision.PROPOSE: 1, Decision.DENY: 2}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision about one tool call (or one canonical request of it)."""

    decision: Decision
    tier: Tier | None
    rule: str
    reason: str
    action: str | None = None
    requests: tuple[CanonicalRequest, ...] = ()
    escalate: bool = False

    def to_json(self) -> dict[str, str | None]:
        """The CLI contract's JSON object."""
        return {
            "decision": self.decision.value,
            "tier": self.tier.value if self.tier else None,
            "rule": self.rule,
            "reason": self.reason,
            "action": self.action,
        }


def deny(rule: str, reason: str, tier: Tier | None = None, *, escalate: bool = False) -> Verdict:
    return Verdict(Decision.DENY, tier, rule, reason, escalate=escalate)


def max_tier(tiers: Iterable[Tier | None]) -> Tier | None:
    """The highest of ``tiers`` (None when there is none)."""
    known = [t for t in tiers if t is not None]
    return max(known, key=TIER_ORDER.__getitem__) if known else None


def strictest(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict that decides a call: deny over propose over allow, then the higher tier.

    The first of equally strict verdicts wins, so the result names the first request that
    caused it; the tier reported is the highest of all.
    """
    items = list(verdicts)
    worst = items[0]
    for verdict in items[1:]:
        if _DECISION_ORDER[verdict.decision] > _DECISION_ORDER[worst.decision]:
            worst = verdict
    tier = max_tier(v.tier for v in items)
    escalate = any(v.escalate for v in items)
    if tier is worst.tier and escalate == worst.escalate:
        return worst
    return Verdict(worst.decision, tier, worst.rule, worst.reason, worst.action, (), escalate)


@dataclass(frozen=True)
class CooldownState:
    """When each qualified action (``<skill>/<id>``) was last used by this agent."""

    last_used: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))

    def used(self, action: str, when: datetime) -> CooldownState:
        """A new state that records a use of ``action`` at ``when``."""
        return CooldownState(MappingProxyType({**self.last_used, action: when}))
