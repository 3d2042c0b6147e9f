"""The end of every pass that did something: status, Events, one log line, the result.

``report`` turns the pass into the new ``FleetSourceStatus`` (conditions from the verdict
through ``derive_conditions``; the inventory, errors and history), writes it with
``patch_status`` only when it differs from the previous one (or keeps it in memory for the
command line's implicit source), records one Event per failing file and one per outcome,
and logs one structured line. A pass that stopped because nothing changed, or because the
source is suspended, is not reported here: it writes nothing at all.

Messages come from our own errors, which never hold credentials.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from infraagent.models.fleetsource import (
    MAX_ERRORS,
    MAX_HISTORY,
    FleetSourceStatus,
    HistoryEntry,
    InventoryEntry,
    ReconcileResult,
    SourceError,
    Verdict,
    derive_conditions,
)
from infraagent.reconciler.context import Pass
from infraagent.reconciler.context import ReconcileResult as PassResult
from infraagent.reconciler.prune import inventory_keys

log = logging.getLogger("infraagent.reconciler")

MAX_FILE_EVENTS: Final = 10
_API_VERSION: Final = "core.infraagent.io/v1alpha1"


def verdict_of(p: Pass) -> Verdict:
    """The pass's verdict: the one a step set, or one from the problems it collected."""
    if p.verdict is not None:
        return p.verdict
    revision = (p.revision or "")[:12]
    counts = f"{len(p.applied)} of {len(p.desired)} object(s) in sync, {len(p.pruned)} pruned"
    note = f"; {p.prune_note}" if p.prune_note else ""
    if not p.problems:
        message = f"applied revision {revision}: {counts}{note}"
        # A list error left pruning undone: look again soon, even without a new commit.
        retry = p.live is None
        return Verdict(
            ready=True, reason="ReconciliationSucceeded", message=message, retrying=retry
        )
    reason = "ApplyFailed" if p.apply_failed else "ValidationFailed"
    first = p.problems[0]
    message = (
        f"revision {revision}: {len(p.failed_files)} file(s) failed, first "
        f"{first.file}:{first.line}: {first.message}; {counts}{note}"
    )
    return Verdict(ready=False, reason=reason, message=message, retrying=bool(p.apply_failed))


def _inventory(p: Pass) -> list[InventoryEntry]:
    entries = {
        key: InventoryEntry(
            apiVersion=key.api_version,
            kind=key.kind,
            namespace=key.namespace,
            name=key.name,
            path=d.file,
        )
        for key, d in p.applied.items()
    }
    if p.loaded is None:
        return list(p.previous.inventory)
    for key, file in inventory_keys(p).items():
        if key not in entries and key not in p.pruned and key not in p.released:
            entries[key] = InventoryEntry(
                apiVersion=key.api_version,
                kind=key.kind,
                namespace=key.namespace,
                name=key.name,
                path=file,
            )
    return sorted(entries.values(), key=lambda e: (e.kind, e.namespace or "", e.name))


def new_status(p: Pass, verdict: Verdict, duration_ms: int) -> FleetSourceStatus:
    """The status after this pass."""
    prev = p.previous
    now = p.ports.clock.now()
    reached = p.loaded is not None
    result = (
        ReconcileResult.SUCCEEDED
        if verdict.ready
        else (ReconcileResult.PARTIAL if reached else ReconcileResult.FAILED)
    )
    history = [*prev.history]
    if p.revision is not None or not prev.history or prev.history[-1].result != result:
        entry = HistoryEntry(
            revision=p.revision or prev.lastAttemptedRevision or "unknown",
            time=p.started,
            durationMs=duration_ms,
            result=result,
        )
        history.append(entry)
    errors = [SourceError(file=e.file, line=e.line, message=e.message[:4096]) for e in p.problems]
    return FleetSourceStatus(
        observedGeneration=p.source.generation,
        conditions=derive_conditions(prev.conditions, verdict, now, p.source.generation),
        lastAttemptedRevision=p.revision or prev.lastAttemptedRevision,
        lastAppliedRevision=p.revision if reached else prev.lastAppliedRevision,
        errors=errors[:MAX_ERRORS] if reached else list(prev.errors),
        inventory=_inventory(p),
        history=history[-MAX_HISTORY:],
    )


def status_json(status: FleetSourceStatus) -> dict[str, object]:
    return status.model_dump(mode="json", exclude_none=True)


def report(p: Pass) -> PassResult:
    """Write the status (if changed), record Events, log one line; the pass's result."""
    verdict = verdict_of(p)
    duration_ms = int((time.perf_counter() - p.clock_start) * 1000)
    status = new_status(p, verdict, duration_ms)
    _write_status(p, status)
    p.state.retry = verdict.retrying
    p.state.failures = p.state.failures + 1 if verdict.retrying else 0
    _events(p, verdict)
    outcome = p.outcome if p.verdict is not None else ("applied" if verdict.ready else "partial")
    unchanged = len(p.applied) - (p.written - len(p.pruned))
    log.info(
        "reconcile source=%s outcome=%s reason=%s revision=%s applied=%d unchanged=%d "
        "pruned=%d failed_files=%d duration_ms=%d",
        p.source.key,
        outcome,
        verdict.reason,
        (p.revision or "-")[:12],
        p.written - len(p.pruned),
        unchanged,
        len(p.pruned),
        len(p.failed_files),
        duration_ms,
    )
    return PassResult(
        source=p.source.key,
        outcome=outcome,
        revision=p.revision,
        status=status,
        applied=p.written - len(p.pruned),
        unchanged=unchanged,
        pruned=len(p.pruned),
        failed_files=tuple(sorted(p.failed_files)),
        writes=p.written,
        message=verdict.message,
    )


def _write_status(p: Pass, status: FleetSourceStatus) -> None:
    p.state.status = status
    if not p.source.persisted or status_json(status) == status_json(p.previous):
        return
    p.ports.cluster.patch_status(
        _API_VERSION, "FleetSource", p.source.name, status_json(status), p.source.namespace
    )


def _events(p: Pass, verdict: Verdict) -> None:
    sink, involved = p.ports.events, p.source.obj
    for problem in p.problems[:MAX_FILE_EVENTS]:
        message = f"{problem.file}:{problem.line}: {problem.message}"
        sink(involved, "DefinitionFailed", message, "Warning")
    sink(involved, verdict.reason, verdict.message, "Normal" if verdict.ready else "Warning")
