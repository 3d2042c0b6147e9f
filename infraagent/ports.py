"""Ports: the Protocols through which the application and runtime reach the outside world.

Adapters at the edge implement them (``providers/*`` for models, ``adapters/*`` for the
cluster and Git); tests use fakes or real local servers. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from infraagent.models.conversation import Completion, CompletionRequest
from infraagent.models.requests import CanonicalRequest


class ModelProvider(Protocol):
    """A language model behind one provider's API.

    ``complete`` retries what is worth retrying (429, 5xx, timeouts; honouring
    ``Retry-After``) a bounded number of times, then raises a ``ProviderError``.
    """

    def complete(self, request: CompletionRequest) -> Completion: ...


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What executing a tool call produced, before redaction and truncation.

    ``is_error`` marks a failed call (an API error such as 403 or 404, a timeout): it is
    data for the model, not an exception.
    """

    text: str
    is_error: bool = False


class ToolExecutor(Protocol):
    """Executes tool calls the guardrails allowed, as the agent's own identity.

    ``requests`` are the canonical requests that were judged; an executor runs exactly
    those, never a re-interpretation of the raw arguments.
    """

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput: ...


class Clock(Protocol):
    """The time, injected so runs and schedules are testable without sleeping."""

    def now(self) -> datetime: ...


class ObjectListing(Protocol):
    """A list answer: the objects (plain JSON, each with apiVersion and kind) and its version."""

    @property
    def items(self) -> list[dict[str, Any]]: ...

    @property
    def resource_version(self) -> str: ...


class Cluster(Protocol):
    """The Kubernetes API as the application layer uses it; objects are plain JSON.

    Implemented by ``adapters.kube.KubeClient``. Errors are ``errors.KubeError`` and its
    subclasses (not found, conflict, forbidden, invalid).
    """

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]: ...

    def apply_with_outcome(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], str]: ...

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]: ...

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
    ) -> None: ...

    def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        status: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]: ...

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> ObjectListing: ...

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One checked-out revision of a fleet repository.

    ``root`` is a directory holding exactly the files of ``revision``; it stays valid and
    unchanged until the next successful ``FleetRepository.checkout``.
    """

    revision: str
    root: Path


class FleetRepository(Protocol):
    """A fleet repository and ref, as the reconciler polls it (implemented by ``adapters.git``).

    ``remote_revision`` asks the remote for the ref's commit (``git ls-remote``): one round
    trip, nothing fetched. ``checkout`` makes ``revision`` the current snapshot, fetching
    (shallow) only what is missing; the first call clones. Both raise ``errors.GitError``
    subclasses (``GitAuthError``, ``GitRefNotFound``, ``GitUnreachable``); after a failure
    the previous snapshot (``current``) is left untouched.
    """

    def remote_revision(self) -> str: ...

    def checkout(self, revision: str) -> Snapshot: ...

    def current(self) -> Snapshot | None: ...


class RunsPublisher(Protocol):
    """Commits run summaries to a dedicated branch (implemented by ``adapters.git``).

    ``publish`` writes ``files`` (repository-relative path → text) in **one** commit on top
    of the branch's tip, skipping files already present with the same content; it returns
    the new commit id, or None when nothing was new (no commit is made). A non-fast-forward
    push is retried after rebasing onto the new tip a bounded number of times; it never
    force-pushes (``errors.GitPushRejected`` when the attempts run out).
    """

    def publish(self, files: Mapping[str, str], message: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run the scheduler decided to start.

    ``trigger`` is an ``AgentRun`` trigger value (``scheduled``, ``manual`` or ``webhook``);
    ``scheduled_time`` is the planned start (the cron or interval fire time, jitter
    included), so the run's schedule lag is measured against it; None for manual and
    webhook runs, whose lag is measured from the moment they were requested
    (``requested_time``).
    """

    namespace: str
    agent: str
    trigger: str
    requested_time: datetime
    scheduled_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a launched run ended: its AgentRun name (None if it was never created) and phase."""

    run_name: str | None
    phase: str


class RunLauncher(Protocol):
    """Starts runs (in this process, or as Kubernetes Jobs) without blocking the scheduler.

    ``launch`` returns at once; ``started`` is called with the AgentRun name as soon as it
    exists, and ``done`` exactly once when the run is over, whatever happened (a failure to
    even create the AgentRun is an outcome with ``run_name=None`` and phase ``Failed``).
    """

    def launch(
        self,
        request: RunRequest,
        started: Callable[[RunRequest, str], None],
        done: Callable[[RunRequest, RunOutcome], None],
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """One problem in one file of a fleet snapshot (repository-relative file, 1-based line)."""

    file: str
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class SourceDefinition:
    """One valid definition of a snapshot: its identity, its body as JSON, where it was written.

    ``body`` holds apiVersion, kind, metadata (name, namespace, labels, annotations as
    written) and spec; never status.
    """

    api_version: str
    kind: str
    name: str
    namespace: str | None
    body: Mapping[str, Any]
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One definition file: its valid definitions, or (when anything in it failed) its problems.

    A file with problems yields no definitions at all: it is one unit, kept or applied whole.
    """

    file: str
    definitions: tuple[SourceDefinition, ...]
    problems: tuple[SourceProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class SourceSkill:
    """One skill folder: its ``SKILL.md`` and ``actions.yaml`` texts (None when absent)."""

    name: str
    folder: str
    skill_md: str
    actions_yaml: str | None
    problems: tuple[SourceProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class LoadedSnapshot:
    """Everything read from one snapshot's paths, file by file and skill by skill."""

    files: tuple[SourceFile, ...]
    skills: tuple[SourceSkill, ...]


class SnapshotLoader(Protocol):
    """Loads and validates the ``paths`` (repository-relative folders) below ``root``.

    Implemented by ``loading.snapshot``. A path that does not exist is simply empty; every
    problem inside a file is a ``SourceProblem`` of that file, never an exception.
    """

    def load(self, root: Path, paths: tuple[str, ...]) -> LoadedSnapshot: ...
