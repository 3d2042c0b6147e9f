"""``Metrics``: the operator's Prometheus metrics over one private registry.

Each ``Metrics`` owns its own ``CollectorRegistry`` (never prometheus_client's global one),
so tests, the command line and several operators in one process never share a value. The
recording methods are small and typed, take the models' enums (or their string values) and
never raise on a bad figure: label values are bounded by ``labels`` and negative, NaN or
unparsable amounts count as 0. The metric names, types and labels are listed in the
package docstring (``infraagent.metrics``).

Deliberately not here: deciding *when* to record (the scheduler, run pool and reconciler
call these methods) and the HTTP endpoint (``server``).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from infraagent.metrics import labels
from infraagent.metrics.server import MetricsServer, start
from infraagent.models.agentrun import Decision, RunPhase, Tier, Trigger
from infraagent.ports import Clock

SCHEDULE_LAG_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
"""Schedule lag, 10 ms to 10 minutes: the scheduler's p99 target is 2 s."""
RUN_DURATION_BUCKETS: Final = (
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
)  # fmt: skip
"""Agent runs, 1 second to 1 hour."""
RECONCILE_DURATION_BUCKETS: Final = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
)  # fmt: skip
"""Reconcile passes, 10 ms (a no-op poll) to 2 minutes (a first apply of a large fleet)."""

_RUN: Final = ("namespace", "agent")
_Key = tuple[str, str, str]


class _UTCClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Metrics:
    """The operator's metrics; one instance per process (or per test)."""

    def __init__(self, *, clock: Clock | None = None, runtime_metrics: bool = True) -> None:
        """``runtime_metrics`` adds the process (``process_*``) and Python (``python_*``)
        collectors to this registry: memory, CPU, open files, garbage collection."""
        self.registry: Final = CollectorRegistry(auto_describe=True)
        self._clock: Clock = clock or _UTCClock()
        self._rules = labels.RuleIds()
        self._in_flight: dict[_Key, int] = {}
        self._lock = threading.Lock()
        if runtime_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._define_runs()
        self._define_policy_and_reconciler()

    def _define_runs(self) -> None:
        r = self.registry
        self._runs_started = Counter(
            "infraagent_runs_started",
            "Agent runs started, by trigger (scheduled, webhook, manual).",
            [*_RUN, "trigger"], registry=r,
        )  # fmt: skip
        self._runs_finished = Counter(
            "infraagent_runs_finished",
            "Agent runs that reached a final phase (Succeeded, Failed, Escalated, Blocked, "
            "Interrupted).",
            [*_RUN, "trigger", "phase"], registry=r,
        )  # fmt: skip
        self._run_duration = Histogram(
            "infraagent_run_duration_seconds",
            "Wall-clock duration of finished agent runs, by final phase.",
            [*_RUN, "phase"], buckets=RUN_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self._run_tokens = Counter(
            "infraagent_run_tokens",
            "Model tokens (input + output) consumed by finished agent runs.",
            _RUN, registry=r,
        )  # fmt: skip
        self._run_cost = Counter(
            "infraagent_run_cost_usd",
            "Estimated model cost of finished agent runs, in US dollars.",
            _RUN, registry=r,
        )  # fmt: skip
        self._runs_in_flight = Gauge(
            "infraagent_runs_in_flight",
            "Agent runs started and not yet finished by this process.",
            registry=r,
        )
        self._schedule_lag = Histogram(
            "infraagent_schedule_lag_seconds",
            "Actual start minus planned start (jitter included) of agent runs.",
            ["trigger"], buckets=SCHEDULE_LAG_BUCKETS, registry=r,
        )  # fmt: skip
        self._agents_known = Gauge(
            "infraagent_agents_known", "InfraAgents the scheduler knows about.", registry=r
        )
        self._agents_stalled = Gauge(
            "infraagent_agents_stalled",
            "InfraAgents the scheduler will not run (Stalled, e.g. an invalid schedule).",
            registry=r,
        )

    def _define_policy_and_reconciler(self) -> None:
        r = self.registry
        self._decisions = Counter(
            "infraagent_guardrail_decisions",
            "Guardrail decisions on tool calls, by decision, tier and stable rule id.",
            ["agent", "decision", "tier", "rule"], registry=r,
        )  # fmt: skip
        self._reconciles = Counter(
            "infraagent_reconciles",
            "Reconcile passes of a FleetSource, by outcome (unchanged, applied, partial, "
            "failed, suspended, stalled).",
            ["source", "outcome"], registry=r,
        )  # fmt: skip
        self._reconcile_duration = Histogram(
            "infraagent_reconcile_duration_seconds",
            "Duration of reconcile passes of a FleetSource.",
            ["source"], buckets=RECONCILE_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self._reconcile_writes = Counter(
            "infraagent_reconcile_writes",
            "API writes of definitions (create, update, delete) made by reconcile passes.",
            ["source"], registry=r,
        )  # fmt: skip
        self._last_applied = Gauge(
            "infraagent_last_applied_revision_timestamp_seconds",
            "Unix time at which a FleetSource's revision was last applied.",
            ["source"], registry=r,
        )  # fmt: skip
        self._summaries = Counter(
            "infraagent_summaries_published",
            "Run summaries committed and pushed to a runs branch.",
            registry=r,
        )
        self._publish_failures = Counter(
            "infraagent_summary_publish_failures",
            "Publishing cycles of run summaries that failed (their runs are retried later).",
            registry=r,
        )

    # runs -------------------------------------------------------------------------------

    def run_started(self, namespace: str, agent: str, trigger: Trigger | str) -> None:
        """A run of ``agent`` began; it counts as in flight until ``run_finished``."""
        key = (labels.name(namespace), labels.name(agent), labels.trigger(trigger))
        self._runs_started.labels(*key).inc()
        with self._lock:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self._runs_in_flight.inc()

    def run_finished(
        self,
        namespace: str,
        agent: str,
        trigger: Trigger | str,
        phase: RunPhase | str,
        *,
        duration_seconds: float,
        tokens: int,
        cost_usd: str | float,
    ) -> None:
        """A run ended in ``phase``; ``cost_usd`` may be the AgentRun's decimal string.

        The figures are keyword-only: three numbers in a row are too easy to swap.

        A run this process did not start (one a new leader marks Interrupted, or a Job's)
        is counted but does not lower the in-flight gauge.
        """
        key = (labels.name(namespace), labels.name(agent), labels.trigger(trigger))
        final = labels.phase(phase)
        self._runs_finished.labels(*key, final).inc()
        self._run_duration.labels(*key[:2], final).observe(labels.amount(duration_seconds))
        self._run_tokens.labels(*key[:2]).inc(labels.amount(tokens))
        self._run_cost.labels(*key[:2]).inc(labels.amount(cost_usd))
        with self._lock:
            count = self._in_flight.get(key, 0)
            if count == 0:
                return
            if count == 1:
                del self._in_flight[key]
            else:
                self._in_flight[key] = count - 1
            self._runs_in_flight.dec()

    def schedule_lag(self, trigger: Trigger | str, seconds: float) -> None:
        """How late a run started against its planned time (negative counts as 0)."""
        self._schedule_lag.labels(labels.trigger(trigger)).observe(labels.amount(seconds))

    # guardrails -------------------------------------------------------------------------

    def decision(
        self, agent: str, decision: Decision | str, tier: Tier | str | None, rule: str
    ) -> None:
        """One guardrail verdict on a tool call of ``agent`` (``tier`` None: not computed)."""
        self._decisions.labels(
            labels.name(agent), labels.decision(decision), labels.tier(tier), self._rules(rule)
        ).inc()

    # reconciler -------------------------------------------------------------------------

    def reconcile(self, source: str, outcome: str, duration_seconds: float, writes: int) -> None:
        """One reconcile pass of ``source`` (``namespace/name``) and the writes it made."""
        key = labels.source(source)
        self._reconciles.labels(key, labels.outcome(outcome)).inc()
        self._reconcile_duration.labels(key).observe(labels.amount(duration_seconds))
        self._reconcile_writes.labels(key).inc(labels.amount(writes))

    def last_applied_revision_timestamp(self, source: str, at: datetime | None = None) -> None:
        """``source`` applied a revision at ``at`` (default: now, from the clock)."""
        when = at or self._clock.now()
        self._last_applied.labels(labels.source(source)).set(when.timestamp())

    # summaries and scheduler ------------------------------------------------------------

    def summaries_published(self, count: int) -> None:
        """``count`` run summaries reached the runs branch."""
        self._summaries.inc(labels.amount(count))

    def publish_failed(self) -> None:
        """A publishing cycle failed."""
        self._publish_failures.inc()

    def agents_known(self, count: int) -> None:
        """The scheduler now knows ``count`` agents."""
        self._agents_known.set(labels.amount(count))

    def stalled_agents(self, count: int) -> None:
        """``count`` agents are Stalled and will not run."""
        self._agents_stalled.set(labels.amount(count))

    # exposition -------------------------------------------------------------------------

    def render(self) -> bytes:
        """Every metric of this registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> MetricsServer:
        """Serve ``/metrics`` on ``host:port`` (port 0: any free port) until ``stop()``."""
        return start(self.registry, host, port)
