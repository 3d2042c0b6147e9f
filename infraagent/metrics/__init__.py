"""The operator's Prometheus metrics: the one home of ``prometheus_client``.

``Metrics`` records what the main job does, over its own registry; ``Metrics.serve(host,
port)`` exposes it at ``/metrics`` and returns a stoppable ``MetricsServer``;
``Metrics.render()`` returns the same text (``CONTENT_TYPE``) for serving it elsewhere.

=================================================== ========= ======================================
Metric                                              Type      Labels
=================================================== ========= ======================================
infraagent_runs_started_total                       counter   namespace, agent, trigger
infraagent_runs_finished_total                      counter   namespace, agent, trigger, phase
infraagent_run_duration_seconds                     histogram namespace, agent, phase
infraagent_run_tokens_total                         counter   namespace, agent
infraagent_run_cost_usd_total                       counter   namespace, agent
infraagent_runs_in_flight                           gauge     (none)
infraagent_schedule_lag_seconds                     histogram trigger
infraagent_agents_known                             gauge     (none)
infraagent_agents_stalled                           gauge     (none)
infraagent_guardrail_decisions_total                counter   agent, decision, tier, rule
infraagent_reconciles_total                         counter   source, outcome
infraagent_reconcile_duration_seconds               histogram source
infraagent_reconcile_writes_total                   counter   source
infraagent_last_applied_revision_timestamp_seconds  gauge     source
infraagent_summaries_published_total                counter   (none)
infraagent_summary_publish_failures_total           counter   (none)
=================================================== ========= ======================================

Label values are bounded (``labels``): trigger, phase, decision, tier and outcome are enums
(anything else becomes ``other``; a decision without a tier has ``tier="none"``); namespace,
agent and source must be Kubernetes names (else ``invalid``); rule is the guardrail engine's
stable rule id (``area/slug``), at most 256 distinct ones. No free text, resource names of
tool calls or error messages ever become labels. Buckets: schedule lag 10 ms to 10 min, run
duration 1 s to 1 h, reconcile duration 10 ms to 2 min. With ``runtime_metrics`` (the
default) the registry also holds the standard ``process_*`` and ``python_*`` metrics.
prometheus_client also exposes a ``<name>_created`` timestamp per counter and histogram
series; ``PROMETHEUS_DISABLE_CREATED_SERIES=True`` in the operator's environment drops them.

Deliberately not here: deciding when to record (the operator and reconciler call the
methods; the command line wires them), and any other package importing prometheus_client.
"""

from infraagent.metrics.recorder import Metrics
from infraagent.metrics.server import CONTENT_TYPE, MetricsServer

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsServer"]
