"""One reconcile pass of one FleetSource: ``reconcile_once``.

Runs the ``steps`` in order until one stops the pass, then ``report``s, unless the pass
stopped because nothing changed or the source is suspended (those write nothing).
``source_from_object`` parses a FleetSource read from the cluster; ``implicit_source``
builds the in-memory one the command line reconciles from ``--repo``.

This is the function the main job and the webhook-triggered loop call; scheduling lives in
``loop``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from infraagent.models.fleetsource import FleetSource, FleetSourceStatus, Verdict
from infraagent.reconciler.context import (
    Pass,
    ReconcileResult,
    ReconcilerPorts,
    SourceObject,
    SourceState,
)
from infraagent.reconciler.report import report
from infraagent.reconciler.steps import STEPS

log = logging.getLogger("infraagent.reconciler")


def source_from_object(obj: Mapping[str, Any]) -> SourceObject:
    """A FleetSource read from the cluster; ``ValidationError`` when its spec is unusable.

    A status that does not parse (written by another version) is ignored, never a reason
    to stop serving the source: the next pass writes a fresh one.
    """
    fields = {k: obj[k] for k in ("apiVersion", "kind", "metadata", "spec") if k in obj}
    model = FleetSource.model_validate(fields)
    try:
        status = FleetSourceStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        status = FleetSourceStatus()
    return SourceObject(obj=obj, model=model.model_copy(update={"status": status}))


def implicit_source(
    url: str, *, name: str, namespace: str, branch: str = "main", revision: str | None = None
) -> SourceObject:
    """The command line's FleetSource: in memory only, its status printed, never written."""
    obj: dict[str, Any] = {
        "apiVersion": "core.infraagent.io/v1alpha1",
        "kind": "FleetSource",
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {"url": url, "branch": branch, **({"revision": revision} if revision else {})},
    }
    return SourceObject(obj=obj, model=FleetSource.model_validate(obj), persisted=False)


def reconcile_once(
    source: SourceObject, ports: ReconcilerPorts, state: SourceState | None = None
) -> ReconcileResult:
    """One pass over ``source``; ``state`` carries the repository and retries between passes."""
    state = state if state is not None else SourceState()
    previous = _previous_status(source, state)
    p = Pass(source=source, ports=ports, state=state, previous=previous, started=ports.clock.now())
    for step in STEPS:
        if not step(p):
            break
    if p.verdict is None and p.outcome in ("unchanged", "suspended"):
        log.debug("reconcile source=%s outcome=%s", source.key, p.outcome)
        return ReconcileResult(
            source=source.key, outcome=p.outcome, revision=p.revision, status=previous
        )
    return report(p)


def stalled(source_obj: Mapping[str, Any], error: ValidationError) -> Verdict:
    """The verdict for a FleetSource whose spec cannot be used."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return Verdict(
        ready=False, reason="InvalidSpec", message=f"{where}: {first['msg']}", stalled=True
    )


def _previous_status(source: SourceObject, state: SourceState) -> FleetSourceStatus:
    if not source.persisted:
        return state.status or FleetSourceStatus()
    return source.model.status or FleetSourceStatus()
