"""The ``FleetSource`` custom resource: a fleet repository the reconciler keeps the cluster on.

Spec: where the repository is (URL, branch or pinned revision, the paths to read), how
often to poll, the Secret holding HTTPS or SSH credentials, and the safety switches
(``prune``, ``allowPruneToEmpty``, ``suspend``). Status is kstatus-shaped: ``Ready`` /
``Reconciling`` / ``Stalled`` conditions, the revisions attempted and applied, per-file
errors, the inventory of applied objects and a short history.

``derive_ready`` is the one function that computes ``Ready`` from the other conditions.
Nothing in this module does I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator

from infraagent.models.common import (
    GROUP_VERSION,
    Condition,
    ConditionStatus,
    DnsLabel,
    DnsSubdomain,
    Duration,
    Model,
    ObjectMeta,
    bounded_duration,
    conditions_field,
)

DEFAULT_PATHS: Final = ("agents/", "environments/", "skills/")
MAX_ERRORS: Final = 50
MAX_INVENTORY: Final = 5000
MAX_HISTORY: Final = 5

READY: Final = "Ready"
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"


def _check_relative(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if not value or value.startswith("/") or ".." in parts or ":" in parts[0]:
        raise ValueError(
            f"{value!r} must be a relative path inside the repository (no leading '/', no '..')"
        )
    return value


RelativePath = Annotated[str, Field(min_length=1, max_length=253)]
REF_PATTERN: Final = r"^[^-\s][^\s]*$"
"""A Git ref as a FleetSource may name it: no leading '-', no whitespace."""


class SecretKeyRef(Model):
    """A key of a Secret in the FleetSource's namespace."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    key: str = Field("token", min_length=1, max_length=253, description="Key in the Secret.")


class LocalSecretRef(Model):
    """A Secret in the FleetSource's namespace."""

    name: DnsSubdomain = Field(
        description=(
            "Name of the Secret: 'username' and 'token' for HTTPS, or 'identity' (a private "
            "key) and optionally 'known_hosts' for SSH."
        )
    )


class WebhookSpec(Model):
    """How push notifications for this source are verified."""

    secretRef: SecretKeyRef = Field(
        description="The Secret key holding the HMAC-SHA256 secret of X-Hub-Signature-256."
    )


class FleetSourceSpec(Model):
    """The desired state: which repository, which ref and paths, how and how often."""

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Repository URL: https://, ssh://, git@host:path or file://.",
    )
    branch: str = Field(
        "main",
        min_length=1,
        max_length=255,
        pattern=REF_PATTERN,
        description="Branch to follow (default main).",
    )
    revision: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        pattern=REF_PATTERN,
        description="A tag or commit that pins the ref; the branch is then ignored.",
    )
    paths: list[RelativePath] = Field(
        default_factory=lambda: list(DEFAULT_PATHS),
        min_length=1,
        max_length=32,
        description="Relative folders to read (default agents/, environments/, skills/).",
    )
    interval: Annotated[Duration, bounded_duration(timedelta(seconds=10), timedelta(hours=24))] = (
        Field("1m", description="Poll interval (Go duration, 10s to 24h), jittered by ±5%.")
    )
    secretRef: LocalSecretRef | None = Field(
        None, description="Credentials for HTTPS (username, token) or SSH (identity)."
    )
    prune: bool = Field(
        True, description="Delete applied objects whose definition left the repository."
    )
    allowPruneToEmpty: bool = Field(
        False, description="Allow a prune that would delete every object this source applied."
    )
    suspend: bool = Field(False, description="Stop reconciling; the applied objects stay.")
    targetNamespace: DnsLabel | None = Field(
        None, description="Namespace of namespaced objects (default: the FleetSource's own)."
    )
    webhook: WebhookSpec | None = Field(None, description="Push webhook verification.")
    runsBranch: str = Field(
        "infraagent/runs",
        min_length=1,
        max_length=255,
        pattern=REF_PATTERN,
        description="Branch the run summaries are committed to.",
    )

    @field_validator("paths")
    @classmethod
    def _relative_paths(cls, value: list[str]) -> list[str]:
        return [_check_relative(path) for path in value]


class SourceError(Model):
    """One problem in one file of the repository."""

    file: str = Field(max_length=1024, description="Repository-relative file.")
    line: int = Field(1, ge=1, description="1-based line.")
    message: str = Field(max_length=4096, description="What is wrong, in a plain sentence.")


class InventoryEntry(Model):
    """One object this source applied."""

    apiVersion: str = Field(max_length=253, description="API version of the object.")
    kind: str = Field(max_length=63, description="Kind of the object.")
    namespace: str | None = Field(None, max_length=63, description="Namespace (none: cluster).")
    name: str = Field(max_length=253, description="Name of the object.")
    path: str = Field(max_length=1024, description="Repository file it came from.")


class ReconcileResult(StrEnum):
    SUCCEEDED = "Succeeded"
    PARTIAL = "PartiallyFailed"
    FAILED = "Failed"


class HistoryEntry(Model):
    """One reconcile pass that looked at a new revision or spec."""

    revision: str = Field(max_length=255, description="Commit reconciled.")
    time: datetime = Field(description="When the pass started.")
    durationMs: int = Field(ge=0, description="How long the pass took.")
    result: ReconcileResult = Field(description="Succeeded, PartiallyFailed or Failed.")


class FleetSourceStatus(Model):
    """The observed state, written by the reconciler."""

    observedGeneration: int | None = Field(None, ge=0, description="Generation last acted on.")
    conditions: list[Condition] = conditions_field()
    lastAttemptedRevision: str | None = Field(
        None, max_length=255, description="Commit of the latest reconcile attempt."
    )
    lastAppliedRevision: str | None = Field(
        None, max_length=255, description="Commit whose definitions were last applied."
    )
    errors: list[SourceError] = Field(
        default_factory=list, max_length=MAX_ERRORS, description="Per-file problems (bounded)."
    )
    inventory: list[InventoryEntry] = Field(
        default_factory=list, max_length=MAX_INVENTORY, description="Objects this source applied."
    )
    history: list[HistoryEntry] = Field(
        default_factory=list, max_length=MAX_HISTORY, description="The last reconciles."
    )


class FleetSource(Model):
    """A fleet repository the reconciler keeps the cluster in step with."""

    apiVersion: Literal["core.infraagent.io/v1alpha1"] = Field(description=GROUP_VERSION)
    kind: Literal["FleetSource"] = Field(description="FleetSource")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: FleetSourceSpec = Field(description="The repository and how to follow it.")
    status: FleetSourceStatus | None = Field(None, description="The observed state.")


class Verdict(Model):
    """What a reconcile pass concluded, before it becomes conditions."""

    ready: bool = Field(description="The source's definitions are applied as far as possible.")
    reason: str = Field(min_length=1, description="CamelCase reason.")
    message: str = Field("", description="A plain sentence, never a secret.")
    retrying: bool = Field(False, description="A retry is scheduled (a transient failure).")
    stalled: bool = Field(False, description="No progress is possible until the spec changes.")


def derive_conditions(
    previous: list[Condition], verdict: Verdict, now: datetime, generation: int | None
) -> list[Condition]:
    """``Ready``, ``Reconciling`` and ``Stalled`` (kstatus) from a verdict: the one place.

    Ready is True only for a verdict that is ready and not stalled. Reconciling=True
    (reason ``ProgressingWithRetry``) accompanies a retry; Stalled=True a verdict that
    cannot progress. Abnormal-true conditions are absent when they do not hold, and a
    condition keeps its ``lastTransitionTime`` while its status does not change.
    """
    before = {c.type: c for c in previous}
    ready = verdict.ready and not verdict.stalled
    wanted = [(READY, ready, verdict.reason)]
    if verdict.retrying and not verdict.stalled:
        wanted.append((RECONCILING, True, "ProgressingWithRetry"))
    if verdict.stalled:
        wanted.append((STALLED, True, verdict.reason))
    out = []
    for kind, holds, reason in wanted:
        status = ConditionStatus.TRUE if holds else ConditionStatus.FALSE
        old = before.get(kind)
        when = old.lastTransitionTime if old is not None and old.status is status else now
        out.append(
            Condition(
                type=kind,
                status=status,
                observedGeneration=generation,
                lastTransitionTime=when,
                reason=reason,
                message=verdict.message,
            )
        )
    return out
