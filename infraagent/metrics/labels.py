"""Label values for the operator's metrics, bounded so a scrape never explodes.

Every label value that reaches a metric passes through one of these functions. Enumerated
labels (trigger, phase, decision, tier, reconcile outcome) accept the enum or its string
value and map anything else to ``other``; name labels (namespace, agent, FleetSource) accept
Kubernetes object names only and map anything else to ``invalid``; guardrail rule ids
accept the engine's stable ``area/slug`` ids only, and at most ``MAX_RULE_IDS`` distinct
ones. Free text, resource names from tool calls and error messages can therefore never
become a label value.

Deliberately not here: the metric definitions (``recorder``) and the HTTP endpoint
(``server``).
"""

from __future__ import annotations

import math
import re
import threading
from enum import StrEnum
from typing import Final, TypeVar

from infraagent.models.agentrun import Decision, RunPhase, Tier, Trigger

OTHER: Final = "other"
"""The value of an enumerated label given something outside its enum."""
INVALID: Final = "invalid"
"""The value of a name label given something that is not a Kubernetes name."""
NO_TIER: Final = "none"
"""The tier label of a decision taken before a tier was computed (a parse failure)."""

RECONCILE_OUTCOMES: Final = frozenset(
    {"unchanged", "applied", "partial", "failed", "suspended", "stalled"}
)
"""What one reconcile pass can end as (the reconciler's ``Outcome``)."""

MAX_RULE_IDS: Final = 256
"""Distinct rule ids one ``Metrics`` labels; later new ids are counted as ``other``."""

_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_SOURCE: Final = re.compile(
    r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?"  # namespace, or the name alone
    r"(/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?"  # /name
)
_RULE: Final = re.compile(r"[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)*")
_RULE_CHARS: Final = 64

E = TypeVar("E", bound=StrEnum)


def _member(enum: type[E], value: E | str) -> str:
    try:
        return enum(value).value
    except ValueError:
        return OTHER


def trigger(value: Trigger | str) -> str:
    """``scheduled``, ``webhook`` or ``manual``."""
    return _member(Trigger, value)


def phase(value: RunPhase | str) -> str:
    """An AgentRun phase (``Succeeded``, ``Failed``, ``Interrupted``…)."""
    return _member(RunPhase, value)


def decision(value: Decision | str) -> str:
    """``allow``, ``propose`` or ``deny``."""
    return _member(Decision, value)


def tier(value: Tier | str | None) -> str:
    """A guardrail tier, or ``none`` when the decision came before one was computed."""
    return NO_TIER if value is None else _member(Tier, value)


def outcome(value: str) -> str:
    """A reconcile outcome (see ``RECONCILE_OUTCOMES``)."""
    return value if value in RECONCILE_OUTCOMES else OTHER


def name(value: str) -> str:
    """A namespace or object name (DNS-1123 subdomain), else ``invalid``."""
    return value if _NAME.fullmatch(value) else INVALID


def source(value: str) -> str:
    """A FleetSource key, ``name`` or ``namespace/name``, else ``invalid``."""
    return value if _SOURCE.fullmatch(value) else INVALID


def amount(value: float | int | str) -> float:
    """A non-negative finite number; anything else (negative, NaN, unparsable) is 0.

    Counters only go up and one bad figure must not stop a run from being recorded.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


class RuleIds:
    """Admits stable rule ids (``area/slug``, ≤ 64 chars), at most ``limit`` distinct ones."""

    def __init__(self, limit: int = MAX_RULE_IDS) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if len(value) > _RULE_CHARS or not _RULE.fullmatch(value):
            return OTHER
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(value)
            return value
