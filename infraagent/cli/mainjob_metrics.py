"""The main job's metrics: what it records in ``infraagent.metrics`` and when.

- ``MeteredLauncher`` wraps the run launcher: a run's start (and its schedule lag: the
  start minus the planned time, or the request time for manual and webhook runs) when its
  AgentRun exists; at its end, one read of the AgentRun gives the phase, duration, tokens,
  cost and every guardrail decision of its ledger. A run whose record cannot be read is
  still counted, with what the outcome says.
- ``metered_reconcile``: one sample per reconcile pass (outcome, duration, writes) and the
  time of the last applied revision.
- ``record_publishing``: summaries committed, and cycles that failed.

Recording never raises: metrics must not be able to break a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from infraagent.cli.mainjob_publish import Target
from infraagent.errors import KubeError
from infraagent.metrics import Metrics
from infraagent.models.common import GROUP_VERSION
from infraagent.operator.jobs import RunnerSwitch
from infraagent.operator.summaries import PublishResult
from infraagent.ports import Clock, Cluster, RunOutcome, RunRequest
from infraagent.reconciler.context import (
    ReconcileResult,
    ReconcilerPorts,
    SourceObject,
    SourceState,
)
from infraagent.reconciler.reconcile import reconcile_once

Started = Callable[[RunRequest, str], None]
Done = Callable[[RunRequest, RunOutcome], None]


class MeteredLauncher:
    """A ``RunLauncher`` that records every run it launches (see the module docstring)."""

    def __init__(
        self, inner: RunnerSwitch, metrics: Metrics, cluster: Cluster, clock: Clock
    ) -> None:
        self.inner, self.metrics, self.cluster, self.clock = inner, metrics, cluster, clock

    def launch(self, request: RunRequest, started: Started, done: Done) -> None:
        def on_started(req: RunRequest, name: str) -> None:
            started(req, name)
            self.metrics.run_started(req.namespace, req.agent, req.trigger)
            planned = req.scheduled_time or req.requested_time
            self.metrics.schedule_lag(req.trigger, _seconds(self.clock.now(), planned))

        def on_done(req: RunRequest, outcome: RunOutcome) -> None:
            done(req, outcome)
            self._finished(req, outcome)

        self.inner.launch(request, on_started, on_done)

    @property
    def open_runs(self) -> frozenset[tuple[str, str]]:
        """The inner launcher's open runs."""
        return self.inner.open_runs

    def drain(self, timeout: float) -> frozenset[tuple[str, str]]:
        """Drain the inner launcher."""
        return self.inner.drain(timeout)

    def _finished(self, request: RunRequest, outcome: RunOutcome) -> None:
        status: Mapping[str, Any] = {}
        if outcome.run_name is not None:
            try:
                run = self.cluster.get(
                    GROUP_VERSION, "AgentRun", outcome.run_name, request.namespace
                )
                status = run.get("status") or {}
            except KubeError:
                status = {}
        usage = status.get("usage") or {}
        self.metrics.run_finished(
            request.namespace,
            request.agent,
            request.trigger,
            str(status.get("phase") or outcome.phase),
            duration_seconds=float(usage.get("wallClockMs", 0)) / 1000.0,
            tokens=int(usage.get("totalTokens", 0)),
            cost_usd=str(usage.get("estimatedCost", "0")),
        )
        for entry in status.get("ledger") or []:
            self.metrics.decision(
                request.agent, str(entry.get("decision")), entry.get("tier"), str(entry.get("rule"))
            )


def metered_reconcile(metrics: Metrics) -> Callable[..., ReconcileResult]:
    """``reconcile_once`` that records each pass: outcome, duration, writes, and the time of
    the last applied revision."""

    def reconcile(
        source: SourceObject, ports: ReconcilerPorts, state: SourceState | None = None
    ) -> ReconcileResult:
        began = time.perf_counter()
        result = reconcile_once(source, ports, state)
        metrics.reconcile(result.source, result.outcome, time.perf_counter() - began, result.writes)
        if result.outcome == "applied":
            metrics.last_applied_revision_timestamp(result.source)
        return result

    return reconcile


def record_publishing(
    metrics: Metrics, outcomes: Iterable[tuple[Target, PublishResult | str]]
) -> None:
    """Summaries committed, and failed cycles."""
    for _, outcome in outcomes:
        if isinstance(outcome, str):
            metrics.publish_failed()
        elif outcome.commit:
            metrics.summaries_published(len(outcome.published))


def _seconds(now: datetime, planned: datetime) -> float:
    return max(0.0, (now - planned).total_seconds())
