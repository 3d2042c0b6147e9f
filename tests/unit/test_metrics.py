"""The operator's metrics as Prometheus sees them: scraped over HTTP on loopback and parsed."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import infraagent.metrics
from infraagent.metrics import CONTENT_TYPE, Metrics, MetricsServer
from infraagent.models.agentrun import Decision, RunPhase, Tier, Trigger

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOON


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(clock=FixedClock())


@pytest.fixture
def server(metrics: Metrics) -> Iterator[MetricsServer]:
    with metrics.serve("127.0.0.1", 0) as running:
        yield running


def scrape(server: MetricsServer) -> list[Sample]:
    """GET /metrics like Prometheus does and return every sample of the exposition."""
    with urllib.request.urlopen(server.url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == CONTENT_TYPE
        text = response.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The value of the one sample called ``name`` with exactly ``labels`` (None: absent)."""
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) <= 1
    return found[0] if found else None


RUN = {"namespace": "infra", "agent": "pod-doctor"}


def test_runs_tokens_cost_and_lag_are_scraped_as_users_graph_them(
    metrics: Metrics, server: MetricsServer
) -> None:
    metrics.run_started("infra", "pod-doctor", Trigger.SCHEDULED)
    metrics.run_started("infra", "pod-doctor", "scheduled")
    metrics.run_started("infra", "cert-watch", Trigger.MANUAL)
    metrics.run_finished(
        "infra", "pod-doctor", Trigger.SCHEDULED, RunPhase.SUCCEEDED,
        duration_seconds=42.0, tokens=1200, cost_usd="0.0123",
    )  # fmt: skip
    metrics.schedule_lag(Trigger.SCHEDULED, 0.3)
    metrics.schedule_lag(Trigger.SCHEDULED, 45)

    samples = scrape(server)

    started = "infraagent_runs_started_total"
    assert value(samples, started, **RUN, trigger="scheduled") == 2
    assert value(samples, started, namespace="infra", agent="cert-watch", trigger="manual") == 1
    finished = "infraagent_runs_finished_total"
    assert value(samples, finished, **RUN, trigger="scheduled", phase="Succeeded") == 1
    assert value(samples, "infraagent_runs_in_flight") == 2
    duration = "infraagent_run_duration_seconds"
    assert value(samples, f"{duration}_count", **RUN, phase="Succeeded") == 1
    assert value(samples, f"{duration}_sum", **RUN, phase="Succeeded") == 42
    assert value(samples, f"{duration}_bucket", **RUN, phase="Succeeded", le="30.0") == 0
    assert value(samples, f"{duration}_bucket", **RUN, phase="Succeeded", le="60.0") == 1
    assert value(samples, "infraagent_run_tokens_total", **RUN) == 1200
    assert value(samples, "infraagent_run_cost_usd_total", **RUN) == pytest.approx(0.0123)
    lag = "infraagent_schedule_lag_seconds_bucket"
    assert value(samples, lag, trigger="scheduled", le="0.01") == 0
    assert value(samples, lag, trigger="scheduled", le="0.5") == 1
    assert value(samples, lag, trigger="scheduled", le="60.0") == 2
    assert value(samples, lag, trigger="scheduled", le="600.0") == 2
    assert value(samples, "infraagent_schedule_lag_seconds_sum", trigger="scheduled") == 45.3


def test_a_run_this_process_did_not_start_is_counted_but_never_drives_in_flight_negative(
    metrics: Metrics, server: MetricsServer
) -> None:
    # e.g. a new leader marking the old leader's run Interrupted, with unusable figures
    metrics.run_finished(
        "infra", "pod-doctor", Trigger.WEBHOOK, RunPhase.INTERRUPTED,
        duration_seconds=-3, tokens=0, cost_usd="not-a-number",
    )  # fmt: skip
    metrics.run_started("infra", "pod-doctor", Trigger.SCHEDULED)
    metrics.run_finished(
        "infra", "pod-doctor", Trigger.SCHEDULED, RunPhase.FAILED,
        duration_seconds=5, tokens=10, cost_usd=float("nan"),
    )  # fmt: skip

    samples = scrape(server)

    assert value(samples, "infraagent_runs_in_flight") == 0
    finished = "infraagent_runs_finished_total"
    assert value(samples, finished, **RUN, trigger="webhook", phase="Interrupted") == 1
    assert value(samples, finished, **RUN, trigger="scheduled", phase="Failed") == 1
    assert value(samples, "infraagent_run_duration_seconds_sum", **RUN, phase="Interrupted") == 0
    assert value(samples, "infraagent_run_cost_usd_total", **RUN) == 0
    assert value(samples, "infraagent_run_tokens_total", **RUN) == 10


def test_guardrail_decisions_are_counted_with_bounded_labels(
    metrics: Metrics, server: MetricsServer
) -> None:
    for _ in range(3):
        metrics.decision("pod-doctor", Decision.ALLOW, Tier.READ, "allow/read")
    metrics.decision("pod-doctor", Decision.DENY, None, "parse/syntax")
    metrics.decision("pod-doctor", "deny", "data-mutation", "data-protection/pvc-delete")
    # free text, a resource name, an unknown decision and a bad agent name never become labels
    metrics.decision("pod-doctor", Decision.DENY, Tier.READ, "kubectl delete pvc data-0 failed")
    metrics.decision("Pod Doctor; DROP", "maybe", "mega", "allow/read")

    samples = scrape(server)

    name = "infraagent_guardrail_decisions_total"
    agent = {"agent": "pod-doctor"}
    assert value(samples, name, **agent, decision="allow", tier="read", rule="allow/read") == 3
    assert value(samples, name, **agent, decision="deny", tier="none", rule="parse/syntax") == 1
    pvc = "data-protection/pvc-delete"
    assert value(samples, name, **agent, decision="deny", tier="data-mutation", rule=pvc) == 1
    assert value(samples, name, **agent, decision="deny", tier="read", rule="other") == 1
    odd = {"agent": "invalid", "decision": "other", "tier": "other", "rule": "allow/read"}
    assert value(samples, name, **odd) == 1
    rules = {s.labels["rule"] for s in samples if s.name == name}
    assert rules == {"allow/read", "parse/syntax", pvc, "other"}


def test_distinct_rule_ids_are_capped_so_a_bug_cannot_explode_the_series(
    metrics: Metrics,
) -> None:
    for i in range(300):
        metrics.decision("pod-doctor", Decision.DENY, Tier.READ, f"generated/rule-{i}")
    samples = [
        s
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "infraagent_guardrail_decisions_total"
    ]
    assert len(samples) == 257
    other = {"agent": "pod-doctor", "decision": "deny", "tier": "read", "rule": "other"}
    assert value(samples, "infraagent_guardrail_decisions_total", **other) == 44


def test_reconciles_by_outcome_with_writes_duration_and_last_applied_time(
    metrics: Metrics, server: MetricsServer
) -> None:
    for _ in range(3):
        metrics.reconcile("infra/fleet", "unchanged", 0.02, 0)
    metrics.reconcile("infra/fleet", "applied", 1.5, 7)
    metrics.reconcile("infra/fleet", "exploded", 0.1, 0)
    metrics.last_applied_revision_timestamp("infra/fleet")
    metrics.last_applied_revision_timestamp("infra/other", at=datetime(2026, 1, 1, tzinfo=UTC))

    samples = scrape(server)

    fleet = {"source": "infra/fleet"}
    assert value(samples, "infraagent_reconciles_total", **fleet, outcome="unchanged") == 3
    assert value(samples, "infraagent_reconciles_total", **fleet, outcome="applied") == 1
    assert value(samples, "infraagent_reconciles_total", **fleet, outcome="other") == 1
    assert value(samples, "infraagent_reconcile_writes_total", **fleet) == 7
    duration = "infraagent_reconcile_duration_seconds"
    assert value(samples, f"{duration}_count", **fleet) == 5
    assert value(samples, f"{duration}_bucket", **fleet, le="0.025") == 3
    last = "infraagent_last_applied_revision_timestamp_seconds"
    assert value(samples, last, **fleet) == NOON.timestamp()
    new_year = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert value(samples, last, source="infra/other") == new_year


def test_summaries_and_scheduler_gauges(metrics: Metrics, server: MetricsServer) -> None:
    assert value(scrape(server), "infraagent_summaries_published_total") == 0
    metrics.summaries_published(3)
    metrics.summaries_published(2)
    metrics.summaries_published(0)
    metrics.publish_failed()
    metrics.agents_known(10)
    metrics.agents_known(8)
    metrics.stalled_agents(1)

    samples = scrape(server)

    assert value(samples, "infraagent_summaries_published_total") == 5
    assert value(samples, "infraagent_summary_publish_failures_total") == 1
    assert value(samples, "infraagent_agents_known") == 8
    assert value(samples, "infraagent_agents_stalled") == 1


def test_two_instances_share_nothing_and_serve_side_by_side() -> None:
    first, second = Metrics(), Metrics()
    first.run_started("infra", "pod-doctor", Trigger.SCHEDULED)
    first.agents_known(4)
    second.agents_known(9)
    with first.serve("127.0.0.1", 0) as one, second.serve("127.0.0.1", 0) as two:
        assert one.port != two.port
        a, b = scrape(one), scrape(two)
    started = "infraagent_runs_started_total"
    assert value(a, started, **RUN, trigger="scheduled") == 1
    assert value(b, started, **RUN, trigger="scheduled") is None
    assert (value(a, "infraagent_agents_known"), value(b, "infraagent_agents_known")) == (4, 9)
    assert value(b, "infraagent_runs_in_flight") == 0


def test_stop_closes_the_endpoint_and_frees_its_port(metrics: Metrics) -> None:
    server = metrics.serve("127.0.0.1", 0)
    port = server.port
    assert value(scrape(server), "infraagent_runs_in_flight") == 0
    server.stop()
    server.stop()  # a second stop is harmless
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=5)
    # the port is free: a restarted endpoint binds it again
    with Metrics().serve("127.0.0.1", port) as again:
        assert again.port == port
        assert value(scrape(again), "infraagent_agents_known") == 0


def test_every_metric_is_documented_in_help_text_and_in_the_package_table(
    metrics: Metrics,
) -> None:
    every = list(text_string_to_metric_families(metrics.render().decode()))
    families = [f for f in every if f.name.startswith("infraagent_")]
    families = [f for f in families if not f.name.endswith("_created")]
    exposed = {f.name + ("_total" if f.type == "counter" else ""): f.type for f in families}
    created = {f.name.removesuffix("_created") for f in every if f.name.endswith("_created")}
    assert created <= {f.name for f in families}
    assert all(len(f.documentation) > 20 for f in families)
    table = re.findall(r"^(infraagent_\w+)\s+(\w+)\s", infraagent.metrics.__doc__ or "", re.M)
    assert dict(table) == exposed
    for name, kind in exposed.items():
        assert re.fullmatch(r"infraagent_[a-z_]+", name)
        assert name.endswith("_total") == (kind == "counter")
        assert not name.endswith("_seconds") or kind in {"histogram", "gauge"}


def test_process_metrics_are_exposed_unless_turned_off(metrics: Metrics) -> None:
    def names(m: Metrics) -> set[str]:
        return {f.name for f in text_string_to_metric_families(m.render().decode())}

    assert {"process_resident_memory_bytes", "python_info"} <= names(metrics)
    bare = names(Metrics(runtime_metrics=False))
    assert not any(n.startswith(("process_", "python_")) for n in bare)
