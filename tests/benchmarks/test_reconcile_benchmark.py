"""How the reconciler scales: 1,000 agent definitions in a real Git repository, real API server.

Prints the figures (not pass/fail timers): the first full apply (definitions per second;
target at least 50/s on 2 cores), the cost of a poll with nothing new (CPU milliseconds of
this process by ``time.process_time()``, target under 100 ms, and the number of API writes,
target 0), and a commit that changes one agent (writes: that one object and the status).
It asserts only behaviour: everything applied, and the no-op poll wrote nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infraagent.adapters.kube import KubeClient
from tests.integration.conftest import ControlPlane, control_plane, crds, kube_api, namespace
from tests.integration.gitserver import commit_files, make_bare_repo
from tests.integration.test_reconciler_support import Harness, agent, fleet_files

__all__ = ["control_plane", "crds", "kube_api", "namespace"]

AGENTS = 1000


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


def test_reconcile_1000_agents_then_poll(kube: KubeClient, namespace: str, tmp_path: Path) -> None:
    names = tuple(f"agent-{n:04d}" for n in range(AGENTS))
    bare = make_bare_repo(tmp_path, "fleet.git", fleet_files(namespace, names))
    harness = Harness(kube, namespace, bare.as_uri(), tmp_path / "cache")
    harness.source()

    started = time.perf_counter()
    first = harness.reconcile()
    apply_seconds = time.perf_counter() - started
    assert first.outcome == "applied", first.message
    definitions = first.applied
    assert definitions == AGENTS + 3  # the agents, one environment, the tiers, one skill

    harness.cluster.writes.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    noop = harness.reconcile()
    noop_cpu_ms = (time.process_time() - cpu) * 1000
    noop_wall_ms = (time.perf_counter() - wall) * 1000
    noop_writes = len(harness.cluster.writes)
    assert noop.outcome == "unchanged" and noop_writes == 0

    commit_files(bare, {"agents/agent-0007.yaml": agent("agent-0007", "changed")})
    cpu, wall = time.process_time(), time.perf_counter()
    one = harness.reconcile()
    one_cpu = time.process_time() - cpu
    one_wall = time.perf_counter() - wall
    assert one.applied == 1

    print(
        f"\nreconcile benchmark, {AGENTS} agents ({definitions} objects):"
        f"\n  first full apply: {apply_seconds:.1f} s, {definitions / apply_seconds:.0f} "
        "definitions/s (target >= 50/s)"
        f"\n  no-op poll: {noop_cpu_ms:.1f} ms CPU ({noop_wall_ms:.0f} ms wall, one git "
        f"ls-remote), {noop_writes} API writes (targets < 100 ms, 0)"
        f"\n  one agent changed: {one_wall:.1f} s wall, {one_cpu:.1f} s CPU, "
        f"{one.writes} object write(s) + status"
    )
