"""Run summaries from a real kube-apiserver to a real Git branch.

AgentRuns are recorded on the API server the way runs record them (``AgentRunRecorder``)
and published by ``publish_summaries`` through the real ``GitRunsPublisher`` into real bare
repositories: over file://, and over the local smart-HTTP server of ``gitserver`` where a
colleague's push must land between our fetch and our push. The branch is read back with the
``git`` command line, as a person reviewing the repository would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from infraagent.adapters.git import GitCredentials, GitRunsPublisher
from infraagent.adapters.kube import KubeClient
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import (
    AgentRunStatus,
    Decision,
    Finding,
    LedgerEntry,
    Outcome,
    RunPhase,
    Severity,
    Tier,
    Trigger,
    Usage,
)
from infraagent.operator.runs import AgentRunRecorder
from infraagent.operator.summaries import SUMMARY_COMMIT_ANNOTATION, publish_summaries
from infraagent.redaction import Redactor
from tests.integration.gitserver import (
    GitHttpServer,
    branch_files,
    commit_files,
    git,
    git_http_server,
    make_bare_repo,
    refs_of,
)

from .conftest import REPO, ControlPlane

__all__ = ["git_http_server"]

API = "core.infraagent.io/v1alpha1"
BRANCH = "infraagent/runs"
REF = f"refs/heads/{BRANCH}"
DAY = "runs/hello-world/2026-11-27"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PLANTED_KEY = "sk-test-" + "7f3a9c1e5b" * 4
TOKEN_SHAPED = "ghp_" + "Zq8" * 12
FLEET = {"agents/hello-world.yaml": "kind: InfraAgent\n"}


@dataclass
class Clock:
    current: datetime = T0

    def now(self) -> datetime:
        return self.current


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
def redactor() -> Redactor:
    return Redactor.with_values([PLANTED_KEY])


def _agent(namespace: str) -> InfraAgent:
    doc: dict[str, Any] = yaml.safe_load((REPO / "agents/hello-world.yaml").read_text("utf-8"))
    doc["metadata"] = {"name": "hello-world", "namespace": namespace}
    return InfraAgent.model_validate(doc)


def _finished(index: int, started: datetime) -> AgentRunStatus:
    entry = LedgerEntry(
        seq=1,
        time=started,
        tool="kubectl",
        requests=[f"rollout restart deployment/web-{index} -n shop"],
        tier=Tier.SERVICE_MUTATION,
        decision=Decision.DENY if index % 2 else Decision.ALLOW,
        rule="above-autonomy" if index % 2 else "autonomy",
        reason="above the agent's autonomy" if index % 2 else "within autonomy",
        outcome=Outcome.DENIED if index % 2 else Outcome.EXECUTED,
    )
    return AgentRunStatus(
        phase=RunPhase.FAILED if index == 2 else RunPhase.SUCCEEDED,
        reason="ModelError" if index == 2 else "Completed",
        startTime=started,
        completionTime=started + timedelta(seconds=20),
        usage=Usage(tokensIn=1000 + index, tokensOut=50, totalTokens=1050 + index),
        ledger=[entry],
        findings=[Finding(severity=Severity.WARNING, message=f"web-{index} restarted often")],
        report=f"Run {index}. Found ANTHROPIC_API_KEY={PLANTED_KEY} and {TOKEN_SHAPED}.",
    )


def _record_runs(
    kube: KubeClient, namespace: str, finished: int, first_index: int = 0
) -> tuple[list[str], str]:
    """``finished`` finished runs and one still running; (finished names, running name)."""
    clock = Clock()
    recorder = AgentRunRecorder(kube, clock)
    names = []
    for index in range(first_index, first_index + finished):
        clock.current = T0 + timedelta(minutes=index)
        name = recorder.start(_agent(namespace), Trigger.SCHEDULED, "scripted/model", T0)
        recorder.finish(name, namespace, _finished(index, clock.current))
        names.append(name)
    running = recorder.start(_agent(namespace), Trigger.MANUAL, "scripted/model")
    return names, running


def _annotation(kube: KubeClient, namespace: str, name: str) -> str | None:
    run = kube.get(API, "AgentRun", name, namespace)
    value: str | None = (run["metadata"].get("annotations") or {}).get(SUMMARY_COMMIT_ANNOTATION)
    return value


def _history(bare: Path) -> list[str]:
    return git("rev-list", REF, cwd=bare).split()


def test_finished_runs_make_one_commit_and_a_second_cycle_none(
    kube: KubeClient, namespace: str, redactor: Redactor, tmp_path: Path
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    main_before = refs_of(bare)["refs/heads/main"]
    publisher = GitRunsPublisher(bare.as_uri(), branch=BRANCH, workdir=tmp_path / "cache")
    names, running = _record_runs(kube, namespace, 3)

    result = publish_summaries(kube, publisher, [namespace], T0, redactor=redactor)

    assert result.commit is not None and len(result.published) == 3
    assert _history(bare) == [result.commit]
    assert sorted(branch_files(bare, BRANCH)) == sorted(f"{DAY}/{n}.md" for n in names)
    trailers = git("log", "-1", "--format=%(trailers:key=Infraagent-Run,valueonly)", REF, cwd=bare)
    assert sorted(trailers.split()) == sorted(f"{namespace}/{n}" for n in names)
    assert git("log", "-1", "--format=%s", REF, cwd=bare).strip() == "runs: 3 summaries"
    summary = branch_files(bare, BRANCH)[f"{DAY}/{names[2]}.md"]
    assert summary.startswith("# hello-world: Failed\n")
    assert f"| AgentRun | {namespace}/{names[2]} |" in summary
    assert "rollout restart deployment/web-2 -n shop" in summary
    assert all(_annotation(kube, namespace, n) == result.commit for n in names)
    assert _annotation(kube, namespace, running) is None
    assert refs_of(bare)["refs/heads/main"] == main_before

    again = publish_summaries(kube, publisher, [namespace], T0, redactor=redactor)

    assert again.commit is None and again.published == ()
    assert _history(bare) == [result.commit]


def _reader_only(kube: KubeClient, namespace: str, user: str) -> None:
    """RBAC for ``user``: read AgentRuns in ``namespace``, nothing else."""
    rbac = "rbac.authorization.k8s.io/v1"
    meta = {"name": "agentrun-reader", "namespace": namespace}
    rule = {"apiGroups": ["core.infraagent.io"], "resources": ["agentruns"]}
    kube.apply({"apiVersion": rbac, "kind": "Role", "metadata": meta,
                "rules": [{**rule, "verbs": ["get", "list"]}]})  # fmt: skip
    kube.apply({"apiVersion": rbac, "kind": "RoleBinding", "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                            "name": "agentrun-reader"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                              "name": user}]})  # fmt: skip


def test_runs_pushed_but_not_marked_are_never_committed_twice(
    kube: KubeClient, namespace: str, redactor: Redactor, tmp_path: Path
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", FLEET)
    publisher = GitRunsPublisher(bare.as_uri(), branch=BRANCH, workdir=tmp_path / "cache")
    names, _ = _record_runs(kube, namespace, 2)
    _reader_only(kube, namespace, "summary-reader")

    with kube.impersonating("summary-reader") as cannot_mark:
        first = publish_summaries(cannot_mark, publisher, [namespace], T0, redactor=redactor)

    assert first.commit is not None
    assert first.unmarked == first.published == tuple(f"{namespace}/{n}" for n in names)
    assert all(_annotation(kube, namespace, n) is None for n in names)

    retry = publish_summaries(kube, publisher, [namespace], T0, redactor=redactor)

    assert retry.commit is None and retry.published == first.published
    assert retry.unmarked == ()
    assert _history(bare) == [first.commit]
    assert all(_annotation(kube, namespace, n) == "already-on-branch" for n in names)
    assert publish_summaries(kube, publisher, [namespace], T0).published == ()


def test_a_concurrent_push_is_survived_and_no_secret_reaches_the_branch(
    kube: KubeClient,
    namespace: str,
    redactor: Redactor,
    git_http_server: GitHttpServer,
    tmp_path: Path,
) -> None:
    bare = make_bare_repo(git_http_server.root, "fleet.git", FLEET)
    credentials = GitCredentials(
        username=git_http_server.user, token=SecretStr(git_http_server.token)
    )
    publisher = GitRunsPublisher(
        git_http_server.url("fleet.git"),
        branch=BRANCH,
        workdir=tmp_path / "cache",
        credentials=credentials,
    )
    first_names, _ = _record_runs(kube, namespace, 1)
    first = publish_summaries(kube, publisher, [namespace], T0, redactor=redactor).commit
    theirs: list[str] = []
    colleague = {"runs/NOTES.md": "reviewed by a human\n"}
    git_http_server.before["receive-pack"] = lambda: theirs.append(
        commit_files(bare, colleague, branch=BRANCH, message="notes on the runs")
    )
    later_names, _ = _record_runs(kube, namespace, 2, first_index=1)

    result = publish_summaries(kube, publisher, [namespace], T0, redactor=redactor)

    assert theirs and result.commit is not None
    assert result.published == tuple(f"{namespace}/{n}" for n in later_names)
    files = branch_files(bare, BRANCH)
    assert files["runs/NOTES.md"] == colleague["runs/NOTES.md"]
    assert {f"{DAY}/{n}.md" for n in first_names + later_names} < set(files)
    assert _history(bare) == [result.commit, theirs[0], first]
    assert git("rev-list", "--merges", REF, cwd=bare) == ""
    assert all(_annotation(kube, namespace, n) == result.commit for n in later_names)
    history = git("log", "-p", "--format=%H%n%B", REF, cwd=bare)
    assert PLANTED_KEY not in history and PLANTED_KEY[8:24] not in history
    assert TOKEN_SHAPED not in history
    assert "ANTHROPIC_API_KEY=[REDACTED]" in history
    assert history.count("Run 0.") == 1 and history.count("Run 2.") == 1
