"""The reconcile loop over the FleetSources on the real API server, with an injected clock.

A source is reconciled when first seen, then not again before its interval; a commit
followed by ``request_reconcile`` (what the webhook receiver calls) is applied at once,
and a burst of requests costs one pass; a FleetSource whose spec cannot be used is marked
Stalled with the reason, and the others are still served.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infraagent.adapters.kube import KubeClient
from infraagent.reconciler.loop import ReconcileLoop, cluster_sources
from tests.integration.gitserver import commit_files, make_bare_repo

from .conftest import ControlPlane
from .test_reconciler_support import GV, Harness, agent, fleet_files


class _Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


def test_sources_on_the_cluster_are_polled_on_their_interval_and_on_request(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", fleet_files(namespace))
    harness = Harness(kube, namespace, bare.as_uri(), tmp_path / "cache")
    harness.source()
    clock = _Clock()
    ports = dataclasses.replace(harness.ports, clock=clock)
    loop = ReconcileLoop(ports, cluster_sources(kube, clock, namespace), rng=random.Random(0))

    assert [r.outcome for r in loop.run_due()] == ["applied"]
    assert loop.run_due() == [], "not due again before the interval"
    commit_files(bare, {"agents/gamma.yaml": agent("gamma")})
    for _ in range(10):
        loop.request_reconcile(namespace, "fleet")
    assert [r.outcome for r in loop.run_due()] == ["applied"]
    assert harness.live("InfraAgent", "gamma") is not None
    assert loop.run_due() == [], "ten requests, one pass"
    clock.at += timedelta(seconds=64)
    harness.cluster.writes.clear()
    assert [r.outcome for r in loop.run_due()] == ["unchanged"]
    assert harness.cluster.writes == []


def test_an_unusable_spec_is_stalled_and_the_other_sources_are_served(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", fleet_files(namespace))
    harness = Harness(kube, namespace, bare.as_uri(), tmp_path / "cache")
    harness.source()
    kube.apply(
        {
            "apiVersion": GV,
            "kind": "FleetSource",
            "metadata": {"name": "broken", "namespace": namespace},
            "spec": {"url": bare.as_uri(), "paths": ["../outside"]},
        }
    )
    clock = _Clock()
    loop = ReconcileLoop(harness.ports, cluster_sources(kube, clock, namespace))
    assert [r.source for r in loop.run_due()] == [f"{namespace}/fleet"]
    broken = kube.get(GV, "FleetSource", "broken", namespace)["status"]
    conditions = {c["type"]: c for c in broken["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "InvalidSpec"
    assert "relative path" in conditions["Ready"]["message"]
