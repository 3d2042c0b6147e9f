"""What a reconcile pass works with: its ports, the source, memory between passes, the pass.

- ``ReconcilerPorts``: the cluster, the snapshot loader, the clock, a factory of
  ``FleetRepository`` (the composition root builds the Git adapter and its credentials from
  a ``RepositorySpec``), and an event sink (Kubernetes Events, or printing for the CLI).
- ``SourceObject``: a FleetSource as JSON plus its parsed model; ``persisted`` says whether
  its status lives on the cluster (False for the command line's implicit source).
- ``SourceState``: what survives between passes of one source (its repository, retries).
- ``Pass``: the working record the steps fill in; ``ReconcileResult`` is what a pass says.

No I/O here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from infraagent.models.fleetsource import FleetSource, FleetSourceStatus, Verdict
from infraagent.ports import (
    Clock,
    Cluster,
    FleetRepository,
    LoadedSnapshot,
    Snapshot,
    SnapshotLoader,
    SourceProblem,
)
from infraagent.reconciler.desired import Desired, Key

EventType = Literal["Normal", "Warning"]
EventSink = Callable[[Mapping[str, Any], str, str, EventType], None]
"""Records an Event about an object: (involved object, reason, message, Normal|Warning)."""

Outcome = Literal["unchanged", "applied", "partial", "failed", "suspended", "stalled"]


@dataclass(frozen=True)
class RepositorySpec:
    """What a ``FleetRepository`` needs: where, which ref, and the Secret's data (or None).

    ``credentials`` holds the decoded Secret keys (``username`` + ``token``, or ``identity``
    + optional ``known_hosts``); it must never be logged. ``key`` (``namespace/name``)
    names the source, e.g. for a work directory.
    """

    key: str
    url: str
    branch: str
    revision: str | None
    credentials: Mapping[str, str] | None = field(default=None, repr=False)


RepositoryFactory = Callable[[RepositorySpec], FleetRepository]


@dataclass(frozen=True)
class ReconcilerPorts:
    """Everything a pass reaches the world through."""

    cluster: Cluster
    loader: SnapshotLoader
    clock: Clock
    repositories: RepositoryFactory
    events: EventSink


@dataclass(frozen=True)
class SourceObject:
    """A FleetSource: its JSON (for Events and status) and its parsed model."""

    obj: Mapping[str, Any]
    model: FleetSource
    persisted: bool = True

    @property
    def name(self) -> str:
        return self.model.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.model.metadata.namespace or "default"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def target_namespace(self) -> str:
        return self.model.spec.targetNamespace or self.namespace

    @property
    def generation(self) -> int | None:
        return self.model.metadata.generation


@dataclass
class SourceState:
    """Memory of one source between passes."""

    repository: FleetRepository | None = None
    fingerprint: tuple[str, ...] = ()
    retry: bool = False
    failures: int = 0
    status: FleetSourceStatus | None = None


@dataclass
class Pass:
    """The working record of one reconcile pass; steps read and fill it in."""

    source: SourceObject
    ports: ReconcilerPorts
    state: SourceState
    previous: FleetSourceStatus
    started: datetime
    clock_start: float = field(default_factory=time.perf_counter)
    repository: FleetRepository | None = None
    revision: str | None = None
    snapshot: Snapshot | None = None
    loaded: LoadedSnapshot | None = None
    problems: list[SourceProblem] = field(default_factory=list)
    failed_files: set[str] = field(default_factory=set)
    desired: list[Desired] = field(default_factory=list)
    live: dict[Key, dict[str, Any]] | None = None
    applied: dict[Key, Desired] = field(default_factory=dict)
    written: int = 0
    apply_failed: set[Key] = field(default_factory=set)
    pruned: set[Key] = field(default_factory=set)
    released: set[Key] = field(default_factory=set)
    prune_note: str = ""
    verdict: Verdict | None = None
    outcome: Outcome = "applied"


@dataclass(frozen=True)
class ReconcileResult:
    """What one pass did: its outcome, the revision, counts and the resulting status.

    ``writes`` counts API writes of definitions (created, configured, deleted), not the
    status patch or Events; ``retry_after`` is the backoff in seconds after a failure.
    """

    source: str
    outcome: Outcome
    revision: str | None
    status: FleetSourceStatus
    applied: int = 0
    unchanged: int = 0
    pruned: int = 0
    failed_files: tuple[str, ...] = ()
    writes: int = 0
    retry_after: float | None = None
    message: str = ""
