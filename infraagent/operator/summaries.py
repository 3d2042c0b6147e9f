"""Run summaries committed back to Git: one publishing cycle (issue 7, item 3).

``publish_summaries`` lists the AgentRuns (every namespace, or the ones given), keeps the
finished ones (terminal phase) that carry no ``infraagent.io/summary-commit`` annotation
yet, renders each with ``summary_render.render_summary`` and hands the whole batch to
``RunsPublisher.publish`` **once**: one commit per cycle, whose message is a subject
(``runs: 3 summaries``) and one ``Infraagent-Run: <namespace>/<name>`` trailer per run. Then
it marks each run with the annotation (a metadata merge patch; the CRD's CEL rules freeze
only the spec and a finished status), so the next cycle skips it without rendering it again.

Idempotence does not rest on the mark alone: a summary always renders to the same bytes
and the publisher skips files already on the branch with the same content, so when a push
succeeded but marking failed, the next cycle commits nothing and only marks. A summary that
was already on the branch is marked ``already-on-branch`` instead of a commit id. A cycle
with nothing new calls no publisher and makes no commit. A batch holds at most
``batch_limit`` runs (oldest first); the rest wait for the next cycle.

Known limit: the path has no namespace (``runs/<agent>/<date>/<run>.md``, as issue 7 asks),
so two runs of same-named agents in two namespaces would share a file only if their
server-generated names also matched on the same day.

Deliberately not here: Git (``adapters.git`` implements ``RunsPublisher``), scheduling the
cycles, and deciding what to do about a failed push: ``GitError`` propagates, nothing is
marked, and the next cycle tries the same runs again. Runs that are not valid AgentRuns are
reported and left alone (never marked, so they stay visible).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from infraagent.errors import KubeError, KubeNotFound
from infraagent.models.agentrun import TERMINAL_PHASES
from infraagent.models.common import GROUP_VERSION, Model
from infraagent.operator.runs import KIND, run_time
from infraagent.operator.summary_render import parse_run, render_summary, summary_path
from infraagent.ports import Cluster, RunsPublisher
from infraagent.redaction import Redactor

SUMMARY_COMMIT_ANNOTATION: Final = "infraagent.io/summary-commit"
ALREADY_ON_BRANCH: Final = "already-on-branch"
DEFAULT_BATCH_LIMIT: Final = 200
RUN_TRAILER: Final = "Infraagent-Run"
_TERMINAL: Final = frozenset(p.value for p in TERMINAL_PHASES)


class PublishResult(Model):
    """What one cycle did.

    ``commit`` is the new commit (None: nothing new was committed); ``published`` the runs of
    the batch (``namespace/name``), now on the branch; ``unmarked`` those of them whose mark
    could not be written (the next cycle retries, without a new commit); ``remaining`` the
    finished, unpublished runs left for the next cycle by the batch limit; ``invalid`` the
    runs that are not valid AgentRuns (``namespace/name: why``), left alone.
    """

    commit: str | None = None
    published: tuple[str, ...] = ()
    unmarked: tuple[str, ...] = ()
    remaining: int = 0
    invalid: tuple[str, ...] = ()


def publish_summaries(
    cluster: Cluster,
    publisher: RunsPublisher,
    namespaces: Sequence[str] | None,
    now: datetime,
    *,
    redactor: Redactor | None = None,
    batch_limit: int = DEFAULT_BATCH_LIMIT,
) -> PublishResult:
    """One cycle: publish the finished runs not yet published, in one commit; mark them.

    ``namespaces`` None means every namespace. ``redactor`` should know the credential
    values the operator holds (``Redactor.with_values``); without one only secret shapes
    are redacted. Cluster read errors and ``GitError`` from the publisher propagate
    (nothing is marked then); a failed mark is reported instead.
    """
    if batch_limit < 1:
        raise ValueError("batch_limit must be at least 1")
    candidates = sorted(_unpublished(_list_runs(cluster, namespaces)), key=_order)
    files: dict[str, str] = {}
    batch: list[Mapping[str, Any]] = []
    invalid: list[str] = []
    for index, run in enumerate(candidates):
        if len(batch) == batch_limit:
            remaining = len(candidates) - index
            break
        try:
            files[summary_path(parse_run(run))] = render_summary(run, redactor)
        except ValidationError as err:
            invalid.append(f"{run_id(run)}: {_first_error(err)}")
            continue
        batch.append(run)
    else:
        remaining = 0
    if not batch:
        return PublishResult(invalid=tuple(invalid))
    commit = publisher.publish(files, commit_message([run_id(r) for r in batch], now))
    unmarked = _mark(cluster, batch, commit or ALREADY_ON_BRANCH)
    return PublishResult(
        commit=commit,
        published=tuple(run_id(r) for r in batch),
        unmarked=tuple(unmarked),
        remaining=remaining,
        invalid=tuple(invalid),
    )


def commit_message(runs: Sequence[str], now: datetime) -> str:
    """``runs: N summaries``, a line saying when, and one ``Infraagent-Run`` trailer per run."""
    count = len(runs)
    subject = f"runs: {count} summar{'y' if count == 1 else 'ies'}"
    when = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = f"Summaries of {count} finished AgentRun{'' if count == 1 else 's'}, published {when}."
    trailers = "\n".join(f"{RUN_TRAILER}: {run}" for run in runs)
    return f"{subject}\n\n{body}\n\n{trailers}\n"


def run_id(run: Mapping[str, Any]) -> str:
    """``namespace/name`` of a run."""
    meta = run.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def is_published(run: Mapping[str, Any]) -> bool:
    """Whether the run carries the summary mark."""
    annotations = (run.get("metadata") or {}).get("annotations") or {}
    return SUMMARY_COMMIT_ANNOTATION in annotations


def _list_runs(cluster: Cluster, namespaces: Sequence[str] | None) -> list[dict[str, Any]]:
    if namespaces is None:
        return cluster.list(GROUP_VERSION, KIND).items
    runs: list[dict[str, Any]] = []
    for namespace in dict.fromkeys(namespaces):
        runs.extend(cluster.list(GROUP_VERSION, KIND, namespace).items)
    return runs


def _unpublished(runs: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for run in runs:
        if (run.get("status") or {}).get("phase") in _TERMINAL and not is_published(run):
            yield run


def _order(run: Mapping[str, Any]) -> tuple[datetime, str]:
    return run_time(run), run_id(run)


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


def _mark(cluster: Cluster, runs: Iterable[Mapping[str, Any]], value: str) -> list[str]:
    """Annotate each run with ``value``; the runs whose mark failed (a vanished run is fine)."""
    patch = {"metadata": {"annotations": {SUMMARY_COMMIT_ANNOTATION: value}}}
    unmarked: list[str] = []
    for run in runs:
        meta = run["metadata"]
        try:
            cluster.patch(GROUP_VERSION, KIND, meta["name"], patch, meta["namespace"])
        except KubeNotFound:
            continue
        except KubeError:
            unmarked.append(run_id(run))
    return unmarked
