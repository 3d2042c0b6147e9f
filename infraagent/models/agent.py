"""The ``InfraAgent`` custom resource: what an agent is, when it runs and how far it may go.

Field names follow the original v0.1.0 API so its documented YAML keeps working; the
validation the original lacked (cron, time zones, durations, bounds, names, skill sources)
is here. Nothing in this module does I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from infraagent.cron import cron_problem, timezone_problem
from infraagent.models.common import (
    GROUP_VERSION,
    Condition,
    DnsLabel,
    DnsSubdomain,
    Duration,
    FieldPathError,
    Glob,
    Model,
    ObjectMeta,
    bounded_duration,
    conditions_field,
    dns_label_problem,
)
from infraagent.models.skillref import SkillRef


class Autonomy(StrEnum):
    """How far an agent may act on its own."""

    OBSERVE = "observe"
    RECOMMEND = "recommend"
    AUTOMATE_SAFE = "automate-safe"
    AUTOMATE_DESTRUCTIVE = "automate-destructive"


class ModelTier(StrEnum):
    FAST = "fast"
    STANDARD = "standard"
    REASONING = "reasoning"


class TriggerType(StrEnum):
    WEBHOOK = "webhook"


class TriggerSpec(Model):
    """An event that starts a run in addition to (or instead of) the schedule."""

    type: TriggerType = Field(description="Trigger type; 'webhook' (a signed HTTP call).")
    source: str | None = Field(
        None, max_length=253, description="Who sends it, for example 'alertmanager'."
    )
    resources: list[str] = Field(
        default_factory=list, max_length=64, description="Resources the event must concern."
    )
    reasons: list[str] = Field(
        default_factory=list, max_length=64, description="Event reasons that start a run."
    )

    @model_validator(mode="before")
    @classmethod
    def _explain_removed(cls, data: object) -> object:
        if isinstance(data, dict):
            if data.get("type") == "kubernetes-event":
                raise FieldPathError(
                    "trigger type 'kubernetes-event' was never implemented in the original; "
                    "use type 'webhook'",
                    "type",
                )
            if "filter" in data:
                raise FieldPathError(
                    "trigger 'filter' was documented as CEL but never evaluated by the "
                    "original; remove it and narrow the trigger with 'resources' and 'reasons'",
                    "filter",
                )
        return data


class ScheduleSpec(Model):
    """When the agent runs: a cron expression, an interval, or only triggers."""

    cron: str | None = Field(
        None, max_length=128, description="Five-field cron expression, e.g. '*/5 * * * *'."
    )
    interval: Annotated[
        Duration | None, bounded_duration(timedelta(seconds=10), timedelta(days=31))
    ] = Field(None, description="Run every interval (Go duration, 10s to 744h), instead of cron.")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone of the cron.")
    triggers: list[TriggerSpec] = Field(
        default_factory=list, max_length=16, description="Events that start a run."
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        problem = cron_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        problem = timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_way_to_start(self) -> ScheduleSpec:
        if self.cron is not None and self.interval is not None:
            raise FieldPathError(
                "set either cron or interval, not both (the original silently ran cron)", "interval"
            )
        if self.cron is None and self.interval is None and not self.triggers:
            raise ValueError("a schedule needs cron, interval or at least one trigger")
        return self


class ModelSpec(Model):
    """Which model tier the agent uses and how much it may spend per run."""

    tier: ModelTier = Field(
        ModelTier.STANDARD, description="Model tier: fast, standard or reasoning."
    )
    tokenBudget: int = Field(
        50000, ge=1000, le=10_000_000, description="Token budget per run (input + output)."
    )
    timeout: Annotated[Duration, bounded_duration(timedelta(seconds=1), timedelta(hours=24))] = (
        Field("120s", description="Wall-clock limit per run (Go duration, 1s to 24h).")
    )


class CapabilitiesSpec(Model):
    """Capabilities the agent needs (required) or can use (optional)."""

    required: list[
        Annotated[str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$", max_length=128)]
    ] = Field(default_factory=list, max_length=32, description="Capabilities the agent needs.")
    optional: list[
        Annotated[str, Field(pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*$", max_length=128)]
    ] = Field(default_factory=list, max_length=32, description="Capabilities it can use.")


class EscalationTarget(StrEnum):
    PARENT = "parent"
    CHANNEL = "channel"
    HUMAN = "human"


class OnTimeout(StrEnum):
    CANCEL = "cancel"
    PROCEED = "proceed"
    RETRY = "retry"


class EscalationSpec(Model):
    """Where escalations go and what happens when nobody answers."""

    target: EscalationTarget = Field(description="parent, channel or human.")
    channelName: DnsLabel | None = Field(
        None, description="A channel of the environment; required when target is 'channel'."
    )
    timeout: Annotated[Duration, bounded_duration(timedelta(0), timedelta(days=7))] = Field(
        "300s", description="How long to wait for an answer (Go duration)."
    )
    onTimeout: OnTimeout = Field(OnTimeout.CANCEL, description="cancel, proceed or retry.")

    @model_validator(mode="after")
    def _channel_named(self) -> EscalationSpec:
        if self.target is EscalationTarget.CHANNEL and not self.channelName:
            raise FieldPathError("escalation target 'channel' needs channelName", "target")
        return self


class GuardrailsSpec(Model):
    """The agent's autonomy and the actions it may take."""

    autonomy: Autonomy = Field(
        Autonomy.OBSERVE,
        description=(
            "observe (read only), recommend (mutations become proposals), automate-safe "
            "(service mutations run; destructive ones are proposed), automate-destructive "
            "(destructive mutations run too). Data mutations are never automated."
        ),
    )
    allowedActions: list[Glob] = Field(
        default_factory=list,
        max_length=128,
        description=(
            "Globs over qualified action ids '<skill>/<id>'; empty means every declared action."
        ),
    )
    deniedActions: list[Glob] = Field(
        default_factory=list,
        max_length=128,
        description="Globs over qualified action ids '<skill>/<id>'; deny beats allow.",
    )
    escalation: EscalationSpec | None = Field(None, description="Where escalations go.")
    maxIterations: int = Field(10, ge=1, le=200, description="Model round trips per run (1-200).")
    maxRetries: int = Field(2, ge=0, le=10, description="Retries of a failed tool call (0-10).")


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class ObservabilitySpec(Model):
    """Per-agent observability switches."""

    metrics: bool = Field(True, description="Export per-agent metrics.")
    tracing: bool = Field(True, description="Emit traces for runs.")
    logLevel: LogLevel = Field(LogLevel.INFO, description="debug, info, warn or error.")


class ReportAction(StrEnum):
    SILENT = "silent"
    LOG = "log"
    NOTIFY = "notify"
    ESCALATE = "escalate"


class ReportingSpec(Model):
    """What to do with a run's outcome."""

    onSuccess: ReportAction = Field(
        ReportAction.SILENT, description="silent, log, notify or escalate."
    )
    onFailure: ReportAction = Field(
        ReportAction.ESCALATE, description="silent, log, notify or escalate."
    )
    onFinding: ReportAction = Field(
        ReportAction.LOG, description="silent, log, notify or escalate."
    )


class Runner(StrEnum):
    """Where an agent's runs execute."""

    INPROCESS = "inprocess"
    JOB = "job"


class InfraAgentSpec(Model):
    """The desired state of an agent."""

    description: str = Field(min_length=1, max_length=1024, description="What the agent does.")
    emoji: str | None = Field(None, max_length=16, description="Display icon.")
    schedule: ScheduleSpec = Field(description="When the agent runs.")
    model: ModelSpec = Field(description="Model tier and per-run budgets.")
    skills: list[SkillRef] = Field(min_length=1, max_length=32, description="The agent's skills.")
    capabilities: CapabilitiesSpec | None = Field(None, description="Needed capabilities.")
    guardrails: GuardrailsSpec = Field(description="Autonomy and permitted actions.")
    observability: ObservabilitySpec | None = Field(None, description="Observability switches.")
    reporting: ReportingSpec | None = Field(None, description="What to do with outcomes.")
    environmentRef: DnsSubdomain = Field(
        description="Name of an AgentEnvironment in the same namespace."
    )
    paused: bool = Field(False, description="A paused agent starts no runs of any kind.")
    runner: Runner = Field(
        Runner.INPROCESS,
        description=(
            "Where runs execute: inprocess (default, in the operator with bounded "
            "concurrency) or job (each run is a Kubernetes Job under the agent's own "
            "ServiceAccount)."
        ),
    )

    @field_validator("skills")
    @classmethod
    def _unique_skills(cls, value: list[SkillRef]) -> list[SkillRef]:
        seen: set[str] = set()
        for index, ref in enumerate(value):
            if ref.name in seen:
                raise FieldPathError(f"skill {ref.name!r} is listed twice", index, "name")
            seen.add(ref.name)
        return value


class AgentPhase(StrEnum):
    PENDING = "Pending"
    READY = "Ready"
    RUNNING = "Running"
    PAUSED = "Paused"
    STALLED = "Stalled"


class InfraAgentStatus(Model):
    """The observed state of an agent, written by the operator."""

    observedGeneration: int | None = Field(None, ge=0, description="Generation last acted on.")
    phase: AgentPhase | None = Field(
        None, description="Pending, Ready, Running, Paused or Stalled."
    )
    lastRunTime: datetime | None = Field(None, description="Start time of the latest run.")
    nextRunTime: datetime | None = Field(None, description="When the next scheduled run starts.")
    runCount: int = Field(0, ge=0, description="Runs started so far.")
    consecutiveFailures: int = Field(0, ge=0, description="Failed runs since the last success.")
    lastRunName: str | None = Field(
        None, max_length=253, description="Name of the latest AgentRun."
    )
    conditions: list[Condition] = conditions_field()


class InfraAgent(Model):
    """An LLM agent that runs on a schedule under guardrails."""

    apiVersion: Literal["core.infraagent.io/v1alpha1"] = Field(description=GROUP_VERSION)
    kind: Literal["InfraAgent"] = Field(description="InfraAgent")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: InfraAgentSpec = Field(description="The desired state of the agent.")
    status: InfraAgentStatus | None = Field(None, description="The observed state.")

    @model_validator(mode="after")
    def _name_is_label(self) -> InfraAgent:
        problem = dns_label_problem(self.metadata.name) if self.metadata.name else None
        if problem:
            raise FieldPathError(
                f"an agent's name becomes a label value and a ServiceAccount name: {problem}",
                "metadata",
                "name",
            )
        return self
