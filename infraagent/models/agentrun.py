"""The ``AgentRun`` custom resource: the immutable audit record of one run.

The spec is fixed when the run starts (a CEL rule rejects any change) and the status cannot
change once its phase is terminal (a CEL transition rule). The API server enforces both.

Size policy: etcd refuses objects over 1.5 MiB and the API server's default request limit
is 3 MiB, so one AgentRun must stay well under 1 MiB however long the run. The limits below
are enforced by the API server through the CRD schema (``maxItems`` / ``maxLength``); the
Python models accept longer drafts, so a run can record freely, and ``fit_status`` applies
the policy before every write: at most ``MAX_LEDGER_ENTRIES`` ledger entries (the first half
and the most recent half are kept; ``truncation.ledgerEntriesOmitted`` counts the rest),
results cut to ``MAX_RESULT_CHARS``, the report to ``MAX_REPORT_CHARS``, and bounded lists of
proposals, escalations and findings. The worst case, every field at its limit in ASCII, is
under 600 KiB (measured by a unit test).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import ConfigDict, Field

from infraagent.models.agent import Autonomy
from infraagent.models.common import (
    GROUP_VERSION,
    Condition,
    DnsSubdomain,
    Model,
    ObjectMeta,
    conditions_field,
)

MAX_LEDGER_ENTRIES: Final = 120
MAX_RESULT_CHARS: Final = 1200
MAX_SUMMARY_CHARS: Final = 256
MAX_REASON_CHARS: Final = 512
MAX_REPORT_CHARS: Final = 16384
MAX_FINDINGS: Final = 50
MAX_MESSAGE_CHARS: Final = 1024
MAX_PROPOSALS: Final = 30
MAX_ESCALATIONS: Final = 30
MAX_REQUESTS: Final = 4
TRUNCATION_MARKER: Final = "…[truncated]…"


def _text(limit: int) -> dict[str, Any]:
    return {"maxLength": limit}


def _bounded_strings(items: int, chars: int) -> dict[str, Any]:
    return {"maxItems": items, "items": {"type": "string", "maxLength": chars}}


class Trigger(StrEnum):
    SCHEDULED = "scheduled"
    WEBHOOK = "webhook"
    MANUAL = "manual"


class Tier(StrEnum):
    """The effect class of a tool call, computed by the guardrail engine."""

    READ = "read"
    SERVICE_MUTATION = "service-mutation"
    DESTRUCTIVE_MUTATION = "destructive-mutation"
    DATA_MUTATION = "data-mutation"


class Decision(StrEnum):
    ALLOW = "allow"
    PROPOSE = "propose"
    DENY = "deny"


class RunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ESCALATED = "Escalated"
    BLOCKED = "Blocked"
    INTERRUPTED = "Interrupted"


TERMINAL_PHASES: Final = frozenset(
    {
        RunPhase.SUCCEEDED,
        RunPhase.FAILED,
        RunPhase.ESCALATED,
        RunPhase.BLOCKED,
        RunPhase.INTERRUPTED,
    }
)


class RunLimits(Model):
    """The budgets the run started with."""

    tokenBudget: int = Field(ge=0, description="Token budget of the run.")
    maxIterations: int = Field(ge=0, description="Model round trips allowed.")
    timeoutSeconds: int = Field(ge=0, description="Wall-clock limit in seconds.")


class AgentRunSpec(Model):
    """What was started: fixed when the run begins and never changed."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "an AgentRun's spec is immutable"}
            ]
        }
    )

    agentRef: DnsSubdomain = Field(description="The InfraAgent that ran.")
    environmentRef: DnsSubdomain = Field(description="The AgentEnvironment it ran against.")
    trigger: Trigger = Field(description="scheduled, webhook or manual.")
    modelUsed: str | None = Field(None, max_length=256, description="provider/model.")
    autonomy: Autonomy | None = Field(None, description="The agent's autonomy for this run.")
    scheduledTime: datetime | None = Field(None, description="When the run was planned to start.")
    limits: RunLimits | None = Field(None, description="Budgets at the start of the run.")


class Usage(Model):
    """What the run consumed."""

    tokensIn: int = Field(0, ge=0, description="Input tokens, including cached ones.")
    tokensOut: int = Field(0, ge=0, description="Output tokens.")
    cacheReadTokens: int = Field(0, ge=0, description="Input tokens served from the prompt cache.")
    cacheWriteTokens: int = Field(0, ge=0, description="Input tokens written to the prompt cache.")
    totalTokens: int = Field(0, ge=0, description="tokensIn + tokensOut.")
    iterations: int = Field(0, ge=0, description="Model round trips.")
    wallClockMs: int = Field(0, ge=0, description="Duration of the run in milliseconds.")
    estimatedCost: str = Field(
        "0", pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=32, description="Estimated cost in USD."
    )


class Outcome(StrEnum):
    EXECUTED = "executed"
    FAILED = "failed"
    PROPOSED = "proposed"
    DENIED = "denied"
    REPEATED = "repeated"
    SKIPPED = "skipped"


class LedgerEntry(Model):
    """One tool call: what was asked, how it was judged and what came of it."""

    seq: int = Field(ge=1, description="1-based position in the run.")
    time: datetime = Field(description="When the call was judged.")
    tool: str = Field(max_length=128, description="Tool name as the model called it.")
    requests: list[str] = Field(
        default_factory=list,
        description="Summaries of the canonical requests the call parsed into.",
        json_schema_extra=_bounded_strings(MAX_REQUESTS, MAX_SUMMARY_CHARS),
    )
    tier: Tier | None = Field(None, description="Computed tier; empty when parsing failed.")
    decision: Decision = Field(description="allow, propose or deny.")
    rule: str = Field(max_length=128, description="Stable id of the deciding rule.")
    reason: str = Field(
        description="Why, in a sentence.", json_schema_extra=_text(MAX_REASON_CHARS)
    )
    action: str | None = Field(None, max_length=128, description="Matched action '<skill>/<id>'.")
    outcome: Outcome = Field(description="executed, failed, proposed, denied, repeated or skipped.")
    result: str = Field(
        "",
        description="Redacted, truncated result or error.",
        json_schema_extra=_text(MAX_RESULT_CHARS),
    )
    durationMs: int = Field(0, ge=0, description="Execution time in milliseconds.")


class ProposalState(StrEnum):
    PENDING = "pending"
    OPENED = "opened"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    EXPIRED = "expired"


class Proposal(Model):
    """A mutation above the agent's autonomy, waiting for a human."""

    seq: int = Field(ge=1, description="Ledger entry that produced it.")
    tool: str = Field(max_length=128, description="Tool name.")
    requests: list[str] = Field(
        default_factory=list,
        description="Summaries of the canonical requests.",
        json_schema_extra=_bounded_strings(MAX_REQUESTS, MAX_SUMMARY_CHARS),
    )
    tier: Tier = Field(description="Computed tier.")
    action: str | None = Field(None, max_length=128, description="Matched action.")
    rationale: str = Field(
        "", description="Why the agent wants it.", json_schema_extra=_text(MAX_MESSAGE_CHARS)
    )
    state: ProposalState = Field(ProposalState.PENDING, description="Where the proposal stands.")
    pullRequest: str | None = Field(None, max_length=512, description="URL of its pull request.")


class Escalation(Model):
    """Something a human must look at (always the case for data mutations)."""

    seq: int | None = Field(None, ge=1, description="Ledger entry that caused it, if any.")
    time: datetime = Field(description="When it was raised.")
    rule: str = Field(max_length=128, description="Rule id.")
    message: str = Field(description="What happened.", json_schema_extra=_text(MAX_MESSAGE_CHARS))
    channel: str | None = Field(None, max_length=63, description="Channel notified.")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ResourceRef(Model):
    """A reference to the object a finding concerns."""

    kind: str = Field(max_length=128, description="Kind or resource.")
    namespace: str | None = Field(None, max_length=63, description="Namespace.")
    name: str = Field(max_length=253, description="Name.")


class Finding(Model):
    """Something the agent found."""

    severity: Severity = Field(description="info, warning or critical.")
    resource: ResourceRef | None = Field(None, description="The object concerned.")
    message: str = Field(description="What was found.", json_schema_extra=_text(MAX_MESSAGE_CHARS))


class Truncation(Model):
    """What the size policy left out of this record."""

    ledgerEntriesOmitted: int = Field(0, ge=0, description="Middle ledger entries dropped.")
    findingsOmitted: int = Field(0, ge=0, description="Findings dropped.")
    proposalsOmitted: int = Field(0, ge=0, description="Proposals dropped.")
    escalationsOmitted: int = Field(0, ge=0, description="Escalations dropped.")


class AgentRunStatus(Model):
    """What happened; final once the phase is terminal."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "!has(oldSelf.phase) || !(oldSelf.phase in "
                        "['Succeeded', 'Failed', 'Escalated', 'Blocked', 'Interrupted']) "
                        "|| self == oldSelf"
                    ),
                    "message": "a finished AgentRun's status is final",
                }
            ]
        }
    )

    phase: RunPhase | None = Field(None, description="Pending, Running or a terminal phase.")
    reason: str | None = Field(None, max_length=64, description="CamelCase reason for the phase.")
    startTime: datetime | None = Field(None, description="When the run started.")
    completionTime: datetime | None = Field(None, description="When the run ended.")
    scheduleLagMs: int | None = Field(None, ge=0, description="Actual start minus planned start.")
    usage: Usage | None = Field(None, description="Tokens, iterations, time and cost.")
    ledger: list[LedgerEntry] = Field(
        default_factory=list,
        description="One entry per tool call.",
        json_schema_extra={"maxItems": MAX_LEDGER_ENTRIES},
    )
    proposals: list[Proposal] = Field(
        default_factory=list,
        description="Mutations awaiting a human.",
        json_schema_extra={"maxItems": MAX_PROPOSALS},
    )
    escalations: list[Escalation] = Field(
        default_factory=list,
        description="Raised to a human.",
        json_schema_extra={"maxItems": MAX_ESCALATIONS},
    )
    findings: list[Finding] = Field(
        default_factory=list,
        description="What the agent found.",
        json_schema_extra={"maxItems": MAX_FINDINGS},
    )
    report: str = Field(
        "", description="The final report.", json_schema_extra=_text(MAX_REPORT_CHARS)
    )
    truncation: Truncation | None = Field(None, description="What the size policy dropped.")
    conditions: list[Condition] = conditions_field()


class AgentRun(Model):
    """The immutable audit record of one agent run."""

    apiVersion: Literal["core.infraagent.io/v1alpha1"] = Field(description=GROUP_VERSION)
    kind: Literal["AgentRun"] = Field(description="AgentRun")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: AgentRunSpec = Field(description="What was started.")
    status: AgentRunStatus | None = Field(None, description="What happened.")


def truncate_text(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, keeping its head and tail around a marker."""
    if len(text) <= limit:
        return text
    keep = limit - len(TRUNCATION_MARKER)
    head = keep * 2 // 3
    return text[:head] + TRUNCATION_MARKER + text[len(text) - (keep - head) :]


def _fit_entry(entry: LedgerEntry) -> LedgerEntry:
    return entry.model_copy(
        update={
            "requests": _fit_requests(entry.requests),
            "reason": truncate_text(entry.reason, MAX_REASON_CHARS),
            "result": truncate_text(entry.result, MAX_RESULT_CHARS),
        }
    )


def _fit_requests(requests: list[str]) -> list[str]:
    kept = [truncate_text(r, MAX_SUMMARY_CHARS) for r in requests[:MAX_REQUESTS]]
    if len(requests) > MAX_REQUESTS:
        kept[-1] = f"…and {len(requests) - MAX_REQUESTS + 1} more requests"
    return kept


def _keep_ends(ledger: list[LedgerEntry]) -> list[LedgerEntry]:
    """The first half and the most recent half of an over-long ledger."""
    if len(ledger) <= MAX_LEDGER_ENTRIES:
        return ledger
    half = MAX_LEDGER_ENTRIES // 2
    return ledger[:half] + ledger[len(ledger) - (MAX_LEDGER_ENTRIES - half) :]


def fit_status(status: AgentRunStatus) -> AgentRunStatus:
    """Apply the size policy: bound every list and string so the record fits etcd.

    Idempotent: fitting a fitted status changes nothing, and omission counts accumulate.
    """
    previous = status.truncation or Truncation()
    truncation = Truncation(
        ledgerEntriesOmitted=previous.ledgerEntriesOmitted
        + max(0, len(status.ledger) - MAX_LEDGER_ENTRIES),
        findingsOmitted=previous.findingsOmitted + max(0, len(status.findings) - MAX_FINDINGS),
        proposalsOmitted=previous.proposalsOmitted + max(0, len(status.proposals) - MAX_PROPOSALS),
        escalationsOmitted=previous.escalationsOmitted
        + max(0, len(status.escalations) - MAX_ESCALATIONS),
    )
    message = MAX_MESSAGE_CHARS
    return status.model_copy(
        update={
            "ledger": [_fit_entry(e) for e in _keep_ends(status.ledger)],
            "findings": [
                f.model_copy(update={"message": truncate_text(f.message, message)})
                for f in status.findings[:MAX_FINDINGS]
            ],
            "proposals": [
                p.model_copy(
                    update={
                        "requests": _fit_requests(p.requests),
                        "rationale": truncate_text(p.rationale, message),
                    }
                )
                for p in status.proposals[:MAX_PROPOSALS]
            ],
            "escalations": [
                e.model_copy(update={"message": truncate_text(e.message, message)})
                for e in status.escalations[:MAX_ESCALATIONS]
            ],
            "report": truncate_text(status.report, MAX_REPORT_CHARS),
            "truncation": truncation if truncation != Truncation() else status.truncation,
        }
    )
