"""Serving FleetSources over time: polling with jitter, backoff, and coalesced triggers.

``ReconcileLoop`` keeps each source's ``SourceState`` and next due time. ``run_due`` does one
scheduling step: every source that is due, or was requested, gets one ``reconcile_once``;
the next due time is the interval with ±5% jitter, or after a failure an exponential
backoff (10s, 20s, 40s, … capped at the interval). ``request_reconcile`` (thread-safe, for
the webhook receiver) marks a source as requested and wakes ``serve``: any number of
requests while one is pending, or while a pass runs, cause exactly one more pass.

Time comes from the ``Clock`` port, so tests call ``run_due`` with a fake clock instead of
sleeping; ``serve`` is the only place that waits. Sources come from a callable: the
FleetSources on the cluster (``cluster_sources``) or the command line's implicit one. A
FleetSource whose spec cannot be parsed is marked Stalled and skipped.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError

from infraagent.errors import KubeError
from infraagent.models.common import parse_duration
from infraagent.models.fleetsource import FleetSourceStatus, derive_conditions
from infraagent.ports import Clock, Cluster
from infraagent.reconciler.context import (
    ReconcileResult,
    ReconcilerPorts,
    SourceObject,
    SourceState,
)
from infraagent.reconciler.reconcile import reconcile_once, source_from_object, stalled
from infraagent.reconciler.report import status_json

log = logging.getLogger("infraagent.reconciler")

JITTER: Final = 0.05
BACKOFF_START: Final = timedelta(seconds=10)
_API_VERSION: Final = "core.infraagent.io/v1alpha1"

Sources = Callable[[], list[SourceObject]]
Reconcile = Callable[[SourceObject, ReconcilerPorts, SourceState], ReconcileResult]


def cluster_sources(cluster: Cluster, clock: Clock, namespace: str | None = None) -> Sources:
    """Every FleetSource on the cluster (or in ``namespace``); unusable ones marked Stalled."""

    def sources() -> list[SourceObject]:
        found: list[SourceObject] = []
        for obj in cluster.list(_API_VERSION, "FleetSource", namespace).items:
            try:
                found.append(source_from_object(obj))
            except ValidationError as err:
                _mark_stalled(cluster, obj, err, clock.now())
        return found

    return sources


def _mark_stalled(
    cluster: Cluster, obj: Mapping[str, Any], error: ValidationError, now: datetime
) -> None:
    meta = obj.get("metadata") or {}
    try:
        previous = FleetSourceStatus.model_validate(obj.get("status") or {})
    except ValidationError:
        previous = FleetSourceStatus()
    generation = meta.get("generation")
    conditions = derive_conditions(previous.conditions, stalled(obj, error), now, generation)
    status = previous.model_copy(update={"conditions": conditions})
    if status_json(status) == status_json(previous):
        return
    try:
        cluster.patch_status(
            _API_VERSION, "FleetSource", meta["name"], status_json(status), meta.get("namespace")
        )
    except KubeError as err:
        log.warning("FleetSource %s: stalled status not written: %s", meta.get("name"), err)


def next_delay(
    interval: timedelta, result: ReconcileResult, failures: int, rng: random.Random
) -> timedelta:
    """When to look again: interval ±5% jitter, or exponential backoff after a failure."""
    if result.outcome == "failed" and failures > 0:
        backoff = BACKOFF_START * float(2 ** min(failures - 1, 16))
        return min(backoff, interval)
    jittered: timedelta = interval * rng.uniform(1 - JITTER, 1 + JITTER)
    return jittered


class ReconcileLoop:
    """Reconciles every source when due or requested; thread-safe ``request_reconcile``."""

    def __init__(
        self,
        ports: ReconcilerPorts,
        sources: Sources,
        *,
        rng: random.Random | None = None,
        reconcile: Reconcile = reconcile_once,
    ) -> None:
        self._ports = ports
        self._reconcile = reconcile
        self._sources = sources
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not secrecy)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._requested: set[str] = set()
        self._states: dict[str, SourceState] = {}
        self._due: dict[str, datetime] = {}

    def request_reconcile(self, namespace: str, name: str) -> None:
        """Ask for a pass of ``namespace/name`` as soon as possible (bursts coalesce)."""
        with self._lock:
            self._requested.add(f"{namespace}/{name}")
        self._wake.set()

    def state(self, key: str) -> SourceState:
        """The memory of source ``namespace/name`` (created empty on first use)."""
        return self._states.setdefault(key, SourceState())

    def run_due(self) -> list[ReconcileResult]:
        """One scheduling step: a pass for every due or requested source; their results."""
        with self._lock:
            requested, self._requested = self._requested, set()
            self._wake.clear()
        now = self._ports.clock.now()
        results = []
        for source in self._sources():
            key = source.key
            if key not in requested and self._due.get(key, now) > now:
                continue
            state = self.state(key)
            try:
                result = self._reconcile(source, self._ports, state)
            except KubeError as err:  # the status or an Event could not be written
                log.warning("reconcile source=%s outcome=error message=%s", key, err)
                state.retry, state.failures = True, state.failures + 1
                self._due[key] = now + BACKOFF_START
                continue
            interval = parse_duration(source.model.spec.interval)
            self._due[key] = now + next_delay(interval, result, state.failures, self._rng)
            results.append(result)
        return results

    def seconds_until_due(self) -> float | None:
        """Seconds until the earliest source is due (0: now; None: nothing scheduled yet)."""
        with self._lock:
            if self._requested:
                return 0.0
        if not self._due:
            return None
        now = self._ports.clock.now()
        return max(0.0, min((due - now).total_seconds() for due in self._due.values()))

    def serve(self, idle: float = 60.0, halt: threading.Event | None = None) -> None:
        """Run until ``stop`` (or ``halt`` is set, then ``wake``): passes when due, waking
        early on ``request_reconcile``."""
        while not self._stopping.is_set() and not (halt is not None and halt.is_set()):
            try:
                self.run_due()
            except KubeError as err:  # listing the sources failed: try again later
                log.warning("reconcile loop: cannot list FleetSources: %s", err)
            wait = self.seconds_until_due()
            self._wake.wait(idle if wait is None else min(wait, idle))

    def wake(self) -> None:
        """End ``serve``'s current wait early (after setting its ``halt``, say)."""
        self._wake.set()

    def stop(self) -> None:
        """Make ``serve`` return after the current pass."""
        self._stopping.set()
        self._wake.set()
