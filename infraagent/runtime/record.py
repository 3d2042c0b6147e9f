"""From a finished run to its audit record: findings, cost and the AgentRun status.

Findings come from the last fenced JSON block of the report (malformed entries are
skipped, never fatal). The estimated cost uses the tier's prices per million tokens. The
status is passed through the size policy (``models.agentrun.fit_status``) so it always
fits etcd. Writing the record anywhere is not done here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from pydantic import ValidationError

from infraagent.models.agentrun import (
    AgentRunStatus,
    Finding,
    RunPhase,
    Usage,
    fit_status,
)
from infraagent.models.common import Condition, ConditionStatus
from infraagent.models.modeltier import TierMapping
from infraagent.runtime.loop import RunResult

_JSON_BLOCK: Final = re.compile(r"```json\s*(\{.*?\})\s*```", re.S)
_MILLION: Final = Decimal(1_000_000)


def extract_findings(report: str) -> list[Finding]:
    """The findings of the last ```json block of ``report`` that parses."""
    for block in reversed(_JSON_BLOCK.findall(report)):
        try:
            data = json.loads(block)
        except ValueError:
            continue
        items = data.get("findings") if isinstance(data, dict) else None
        if isinstance(items, list):
            return [f for f in (_finding(item) for item in items) if f is not None]
    return []


def _finding(item: Any) -> Finding | None:
    if not isinstance(item, dict):
        return None
    try:
        return Finding.model_validate(item)
    except ValidationError:
        return None


def estimated_cost(result: RunResult, tier: TierMapping | None) -> str:
    """USD for the run at the tier's prices, as a decimal string ("0" without prices)."""
    if tier is None:
        return "0"
    cost = (
        Decimal(result.usage.input_tokens) * Decimal(tier.costPerMillionInput)
        + Decimal(result.usage.output_tokens) * Decimal(tier.costPerMillionOutput)
    ) / _MILLION
    return format(cost.quantize(Decimal("0.000001")).normalize(), "f")


def run_status(result: RunResult, tier: TierMapping | None) -> AgentRunStatus:
    """The AgentRun status of a finished run, within the size policy."""
    started = result.started or datetime.now(UTC)
    finished = result.finished or started
    usage = result.usage
    status = AgentRunStatus(
        phase=result.phase,
        reason=result.reason or None,
        startTime=started,
        completionTime=finished,
        usage=Usage(
            tokensIn=usage.input_tokens,
            tokensOut=usage.output_tokens,
            cacheReadTokens=usage.cache_read_tokens,
            cacheWriteTokens=usage.cache_write_tokens,
            totalTokens=usage.input_tokens + usage.output_tokens,
            iterations=result.iterations,
            wallClockMs=int((finished - started).total_seconds() * 1000),
            estimatedCost=estimated_cost(result, tier),
        ),
        ledger=result.ledger,
        proposals=result.proposals,
        escalations=result.escalations,
        findings=extract_findings(result.report),
        report=result.report,
        conditions=[_complete(result, finished)],
    )
    return fit_status(status)


def _complete(result: RunResult, when: datetime) -> Condition:
    done = result.phase in (RunPhase.SUCCEEDED, RunPhase.ESCALATED)
    return Condition(
        type="Complete",
        status=ConditionStatus.TRUE if done else ConditionStatus.FALSE,
        lastTransitionTime=when,
        reason=result.reason or "Completed",
        message=f"The run ended {result.phase.value}.",
    )
