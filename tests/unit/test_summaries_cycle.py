"""One publishing cycle of run summaries, over an in-memory cluster and branch.

The doubles keep the ports' contracts: the cluster lists and merge-patches plain JSON; the
publisher keeps the branch's files, commits only when some file is new or changed and
answers None otherwise. The real API server and a real Git branch are in
``tests/integration/test_summaries_on_git.py``.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infraagent.errors import GitPushRejected, KubeError, KubeNotFound
from infraagent.operator.summaries import (
    ALREADY_ON_BRANCH,
    SUMMARY_COMMIT_ANNOTATION,
    commit_message,
    publish_summaries,
)

API = "core.infraagent.io/v1alpha1"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass
class Listing:
    items: list[dict[str, Any]]
    resource_version: str = "1"


@dataclass
class MemoryCluster:
    runs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    failing_patches: set[str] = field(default_factory=set)
    vanished: set[str] = field(default_factory=set)
    lists: int = 0

    def add(self, run: dict[str, Any]) -> None:
        meta = run["metadata"]
        self.runs[meta["namespace"], meta["name"]] = run

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> Listing:
        assert (api_version, kind) == (API, "AgentRun")
        self.lists += 1
        return Listing(
            [copy.deepcopy(r) for (ns, _), r in self.runs.items() if namespace in (None, ns)]
        )

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        if name in self.vanished:
            raise KubeNotFound("gone", status=404)
        if name in self.failing_patches:
            raise KubeError("the API server is overloaded", status=503)
        run = self.runs[namespace or "", name]
        annotations = run["metadata"].setdefault("annotations", {})
        annotations.update(patch["metadata"]["annotations"])
        return copy.deepcopy(run)

    def annotation(self, namespace: str, name: str) -> str | None:
        value: str | None = (self.runs[namespace, name]["metadata"].get("annotations") or {}).get(
            SUMMARY_COMMIT_ANNOTATION
        )
        return value


@dataclass
class MemoryBranch:
    files: dict[str, str] = field(default_factory=dict)
    commits: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    calls: int = 0
    refuse: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def publish(self, files: Mapping[str, str], message: str) -> str | None:
        self.calls += 1
        if self.refuse:
            raise GitPushRejected("the runs branch moved too often")
        new = {p: t for p, t in files.items() if self.files.get(p) != t}
        if not new:
            return None
        self.files.update(new)
        sha = f"{next(self._ids):040x}"
        self.commits.append((sha, new, message))
        return sha


def run(
    name: str, phase: str | None = "Succeeded", namespace: str = "ops", minute: int = 0
) -> dict[str, Any]:
    started = datetime(2026, 11, 27, 10, minute, tzinfo=UTC)
    status: dict[str, Any] = {"startTime": started.isoformat().replace("+00:00", "Z")}
    if phase:
        status["phase"] = phase
        status["report"] = f"report of {name}"
    return {
        "apiVersion": API,
        "kind": "AgentRun",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"agentRef": "vigil", "environmentRef": "prod", "trigger": "scheduled"},
        "status": status,
    }


@pytest.fixture
def cluster() -> MemoryCluster:
    memory = MemoryCluster()
    for index, phase in enumerate(["Succeeded", "Failed", "Escalated", "Interrupted"]):
        memory.add(run(f"vigil-done{index}", phase, minute=index))
    memory.add(run("vigil-running", "Running", minute=9))
    memory.add(run("vigil-pending", None, minute=9))
    return memory


def test_finished_runs_are_published_in_one_commit_and_marked(cluster: MemoryCluster) -> None:
    branch = MemoryBranch()
    result = publish_summaries(cluster, branch, None, NOW)

    assert branch.calls == 1 and len(branch.commits) == 1
    sha, files, message = branch.commits[0]
    assert sorted(files) == [f"runs/vigil/2026-11-27/vigil-done{i}.md" for i in range(4)]
    assert "report of vigil-done2" in files["runs/vigil/2026-11-27/vigil-done2.md"]
    assert message.splitlines()[0] == "runs: 4 summaries"
    assert message.splitlines()[-4:] == [f"Infraagent-Run: ops/vigil-done{i}" for i in range(4)]
    assert result.commit == sha
    assert result.published == tuple(f"ops/vigil-done{i}" for i in range(4))
    assert result.unmarked == () and result.remaining == 0 and result.invalid == ()
    assert [cluster.annotation("ops", f"vigil-done{i}") for i in range(4)] == [sha] * 4
    assert cluster.annotation("ops", "vigil-running") is None
    assert cluster.annotation("ops", "vigil-pending") is None


def test_a_second_cycle_with_nothing_new_makes_no_commit(cluster: MemoryCluster) -> None:
    branch = MemoryBranch()
    publish_summaries(cluster, branch, None, NOW)
    again = publish_summaries(cluster, branch, None, NOW + timedelta(minutes=1))

    assert branch.calls == 1 and len(branch.commits) == 1
    assert again.commit is None and again.published == ()


def test_a_run_that_finishes_later_is_published_by_a_later_cycle(cluster: MemoryCluster) -> None:
    branch = MemoryBranch()
    publish_summaries(cluster, branch, None, NOW)
    cluster.runs["ops", "vigil-running"]["status"]["phase"] = "Succeeded"
    result = publish_summaries(cluster, branch, None, NOW)

    assert result.published == ("ops/vigil-running",)
    assert list(branch.commits[1][1]) == ["runs/vigil/2026-11-27/vigil-running.md"]
    assert branch.commits[1][2].splitlines()[0] == "runs: 1 summary"


def test_a_failed_mark_is_retried_without_committing_the_run_twice(
    cluster: MemoryCluster,
) -> None:
    branch = MemoryBranch()
    cluster.failing_patches.add("vigil-done1")
    first = publish_summaries(cluster, branch, None, NOW)
    assert first.unmarked == ("ops/vigil-done1",)
    assert cluster.annotation("ops", "vigil-done1") is None

    cluster.failing_patches.clear()
    second = publish_summaries(cluster, branch, None, NOW + timedelta(minutes=1))

    assert second.commit is None and second.published == ("ops/vigil-done1",)
    assert len(branch.commits) == 1
    assert cluster.annotation("ops", "vigil-done1") == ALREADY_ON_BRANCH
    assert publish_summaries(cluster, branch, None, NOW).published == ()
    assert branch.calls == 2


def test_a_failed_push_marks_nothing_and_the_next_cycle_publishes(cluster: MemoryCluster) -> None:
    branch = MemoryBranch(refuse=True)
    with pytest.raises(GitPushRejected):
        publish_summaries(cluster, branch, None, NOW)
    assert all(cluster.annotation("ops", f"vigil-done{i}") is None for i in range(4))

    branch.refuse = False
    assert len(publish_summaries(cluster, branch, None, NOW).published) == 4


def test_a_run_deleted_before_its_mark_is_not_an_error(cluster: MemoryCluster) -> None:
    cluster.vanished.add("vigil-done0")
    result = publish_summaries(cluster, MemoryBranch(), None, NOW)
    assert result.unmarked == () and len(result.published) == 4


def test_a_batch_is_bounded_and_the_oldest_go_first(cluster: MemoryCluster) -> None:
    branch = MemoryBranch()
    results = [publish_summaries(cluster, branch, None, NOW, batch_limit=3) for _ in range(3)]

    assert [r.published for r in results] == [
        ("ops/vigil-done0", "ops/vigil-done1", "ops/vigil-done2"),
        ("ops/vigil-done3",),
        (),
    ]
    assert [r.remaining for r in results] == [1, 0, 0]
    assert len(branch.commits) == 2
    with pytest.raises(ValueError, match="batch_limit"):
        publish_summaries(cluster, branch, None, NOW, batch_limit=0)


def test_only_the_namespaces_given_are_published(cluster: MemoryCluster) -> None:
    cluster.add(run("vigil-elsewhere", namespace="team-b"))
    only_b = publish_summaries(cluster, MemoryBranch(), ["team-b", "team-b"], NOW)

    assert only_b.published == ("team-b/vigil-elsewhere",)
    assert cluster.annotation("ops", "vigil-done0") is None


def test_a_run_that_is_not_a_valid_agentrun_is_reported_and_left_alone(
    cluster: MemoryCluster,
) -> None:
    broken = run("vigil-broken", minute=0)
    broken["spec"]["trigger"] = "cron"
    cluster.add(broken)
    result = publish_summaries(cluster, MemoryBranch(), None, NOW, batch_limit=4)

    assert result.invalid == (
        "ops/vigil-broken: spec.trigger: Input should be 'scheduled', 'webhook' or 'manual'",
    )
    assert len(result.published) == 4 and result.remaining == 0
    assert cluster.annotation("ops", "vigil-broken") is None


def test_the_commit_message_names_every_run_in_trailers() -> None:
    message = commit_message(["a/x", "b/y"], datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    assert message == (
        "runs: 2 summaries\n\n"
        "Summaries of 2 finished AgentRuns, published 2026-11-27T13:00:00Z.\n\n"
        "Infraagent-Run: a/x\nInfraagent-Run: b/y\n"
    )
