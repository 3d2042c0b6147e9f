"""The reconciler on the real API server, over real Git repositories (file://).

What a user notices: the fleet appears on the cluster, labelled and annotated, with skills as
ConfigMaps; a poll with nothing new makes one remote lookup, no fetch and zero writes; a new
commit is applied on the next poll and leaves untouched objects untouched; a broken file
keeps its last applied version while the others apply, with file and line in the status and
an Event; a deleted file is pruned (its AgentRuns stay) unless something makes pruning
unsafe; ``kubectl get fleetsources`` shows ready, revision and age.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.errors import KubeError
from infraagent.models import InfraAgent
from infraagent.models.agentrun import Trigger
from infraagent.models.keys import (
    PRUNE_ANNOTATION,
    PRUNE_DISABLED,
    SKILL_MD_KEY,
    SKILL_SHEET_KEY,
    SOURCE_NAME_LABEL,
    SOURCE_NAMESPACE_LABEL,
    SOURCE_PATH_ANNOTATION,
    SOURCE_REVISION_ANNOTATION,
)
from infraagent.operator.runs import new_agentrun
from infraagent.reconciler.context import SourceState
from tests.integration.gitserver import commit_files, git, make_bare_repo

from .conftest import ControlPlane
from .test_reconciler_support import GV, Harness, agent, fleet_files


@pytest.fixture
def kube(control_plane: ControlPlane) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
def bare(tmp_path: Path, namespace: str) -> Path:
    return make_bare_repo(tmp_path / "remote", "fleet.git", fleet_files(namespace))


@pytest.fixture
def harness(
    kube: KubeClient, crds: list[str], namespace: str, bare: Path, tmp_path: Path
) -> Harness:
    h = Harness(kube, namespace, bare.as_uri(), tmp_path / "cache")
    h.source()
    return h


def test_first_pass_applies_the_fleet_labelled_with_skills_as_configmaps(
    harness: Harness, bare: Path, namespace: str, control_plane: ControlPlane
) -> None:
    result = harness.reconcile()
    assert result.outcome == "applied", result.message
    head = commit_files(bare, {}, message="noop")  # the tip, for comparison below
    alpha = harness.live("InfraAgent", "alpha")
    assert alpha is not None
    labels, notes = alpha["metadata"]["labels"], alpha["metadata"]["annotations"]
    assert labels[SOURCE_NAME_LABEL] == "fleet" and labels[SOURCE_NAMESPACE_LABEL] == namespace
    assert labels["app.kubernetes.io/managed-by"] == "infraagent"
    assert notes[SOURCE_PATH_ANNOTATION] == "agents/alpha.yaml"
    assert notes[SOURCE_REVISION_ANNOTATION] == result.revision and result.revision != head
    assert harness.live("AgentEnvironment", "dev-lab") is not None
    assert harness.live("ModelTierConfig", f"tiers-{namespace}") is not None
    skill = harness.live("ConfigMap", "infraagent-skill-hello-world", "v1")
    assert skill is not None and set(skill["data"]) == {SKILL_MD_KEY, SKILL_SHEET_KEY}
    status = harness.status()
    assert harness.ready()["status"] == "True"
    assert status["lastAppliedRevision"] == status["lastAttemptedRevision"] == result.revision
    assert len(status["inventory"]) == 5 and status["history"][-1]["result"] == "Succeeded"
    table = control_plane.kubectl("get", "fleetsources", "-n", namespace).stdout
    assert table.split("\n")[0].split() == ["NAME", "READY", "REVISION", "AGE"]
    assert table.split("\n")[1].split()[:3] == ["fleet", "True", result.revision]


def test_a_poll_with_nothing_new_is_one_lookup_no_fetch_and_zero_writes(
    harness: Harness, tmp_path: Path
) -> None:
    harness.reconcile()
    before = harness.owned_versions()
    harness.cluster.writes.clear()
    repository = harness.state.repository
    assert repository is not None
    operations = dict(repository.remote_operations)  # type: ignore[attr-defined]
    result = harness.reconcile()
    assert result.outcome == "unchanged" and harness.cluster.writes == []
    after_ops = repository.remote_operations  # type: ignore[attr-defined]
    assert after_ops.get("ls-remote", 0) == operations.get("ls-remote", 0) + 1
    assert {k: v for k, v in after_ops.items() if k != "ls-remote"} == {
        k: v for k, v in operations.items() if k != "ls-remote"
    }
    assert harness.owned_versions() == before
    restarted = Harness(harness.kube, harness.namespace, harness.url, tmp_path / "cache")
    assert restarted.reconcile().outcome == "unchanged"
    assert restarted.cluster.writes == [] and harness.owned_versions() == before


def test_a_new_commit_applies_what_changed_and_leaves_the_rest_untouched(
    harness: Harness, bare: Path
) -> None:
    harness.reconcile()
    before = harness.owned_versions()
    commit_files(bare, {"agents/gamma.yaml": agent("gamma"), "README.md": "moved on\n"})
    result = harness.reconcile()
    assert result.outcome == "applied" and result.applied == 1
    assert harness.live("InfraAgent", "gamma") is not None
    after = harness.owned_versions()
    for key, version in before.items():
        if key != "FleetSource":
            assert after[key] == version, f"{key} was rewritten although it did not change"
    assert harness.status()["lastAppliedRevision"] == result.revision


def test_a_broken_file_keeps_its_last_version_while_the_others_apply(
    harness: Harness, bare: Path, namespace: str
) -> None:
    harness.reconcile()
    broken = agent("beta", "changed but broken") + "  schedule: [\n"
    commit_files(
        bare,
        {"agents/alpha.yaml": agent("alpha", "new words"), "agents/beta.yaml": broken},
        delete=("agents/gamma.yaml",),
    )
    result = harness.reconcile()
    assert result.outcome == "partial" and result.failed_files == ("agents/beta.yaml",)
    alpha, beta = harness.live("InfraAgent", "alpha"), harness.live("InfraAgent", "beta")
    assert alpha is not None and alpha["spec"]["description"] == "new words"
    assert beta is not None and beta["spec"]["description"] == "watches things"
    status = harness.status()
    assert status["errors"][0]["file"] == "agents/beta.yaml" and status["errors"][0]["line"] > 1
    assert harness.ready()["status"] == "False" and harness.ready()["reason"] == "ValidationFailed"
    assert "agents/beta.yaml" in {e["path"] for e in status["inventory"]}
    notes = [e.get("note", "") for e in harness.events() if e["reason"] == "DefinitionFailed"]
    assert any(n.startswith("agents/beta.yaml:") for n in notes)


def test_a_parse_failure_blocks_pruning_of_other_deleted_files(
    harness: Harness, bare: Path
) -> None:
    harness.reconcile()
    commit_files(bare, {"agents/beta.yaml": "kind: [\n"}, delete=("agents/alpha.yaml",))
    result = harness.reconcile()
    assert result.pruned == 0 and harness.live("InfraAgent", "alpha") is not None
    assert "pruning skipped" in harness.ready()["message"]
    commit_files(bare, {"agents/beta.yaml": agent("beta")})
    assert harness.reconcile().pruned == 1 and harness.live("InfraAgent", "alpha") is None


def test_a_deleted_agent_is_pruned_and_its_agentruns_stay(
    harness: Harness, bare: Path, kube: KubeClient, namespace: str
) -> None:
    harness.reconcile()
    model = InfraAgent.model_validate(yaml.safe_load(agent("alpha")))
    run = kube.create(new_agentrun(model, Trigger.MANUAL, None, None, namespace))
    opt_out = {"metadata": {"annotations": {PRUNE_ANNOTATION: PRUNE_DISABLED}}}
    kube.patch(GV, "InfraAgent", "beta", opt_out, namespace)
    commit_files(bare, {}, delete=("agents/alpha.yaml", "agents/beta.yaml"))
    result = harness.reconcile()
    assert result.pruned == 1
    assert harness.live("InfraAgent", "alpha") is None
    assert harness.live("InfraAgent", "beta") is not None, "opted out of pruning"
    assert kube.get(GV, "AgentRun", run["metadata"]["name"], namespace)["spec"]["agentRef"] == (
        "alpha"
    )
    names = {e["name"] for e in harness.status()["inventory"]}
    assert "alpha" not in names and "beta" not in names


def test_a_repository_that_suddenly_looks_empty_prunes_nothing(
    harness: Harness, bare: Path, namespace: str
) -> None:
    harness.reconcile()
    files = list(fleet_files(namespace))
    commit_files(
        bare, {"README.md": "emptied\n"}, delete=tuple(f for f in files if f != "README.md")
    )
    result = harness.reconcile()
    assert result.pruned == 0 and harness.cluster.writes[-1].startswith("status")
    assert harness.live("InfraAgent", "alpha") is not None
    assert "allowPruneToEmpty" in harness.ready()["message"]
    assert len(harness.status()["inventory"]) == 5


def test_objects_taken_over_by_another_source_are_never_pruned(
    harness: Harness, bare: Path, kube: KubeClient, namespace: str
) -> None:
    harness.reconcile()
    other = {"metadata": {"labels": {SOURCE_NAME_LABEL: "other"}}}
    kube.patch(GV, "InfraAgent", "alpha", other, namespace)
    commit_files(bare, {}, delete=("agents/alpha.yaml",))
    assert harness.reconcile().pruned == 0
    assert harness.live("InfraAgent", "alpha") is not None


def test_a_suspended_source_does_nothing(harness: Harness, bare: Path) -> None:
    harness.reconcile()
    harness.source(suspend=True)
    commit_files(bare, {"agents/gamma.yaml": agent("gamma")})
    harness.cluster.writes.clear()
    assert harness.reconcile().outcome == "suspended" and harness.cluster.writes == []
    assert harness.live("InfraAgent", "gamma") is None
    harness.source(suspend=False)
    harness.state = SourceState()
    assert harness.reconcile().outcome == "applied"
    assert harness.live("InfraAgent", "gamma") is not None


def test_a_hand_edit_is_put_back_on_the_next_revision(
    harness: Harness, bare: Path, kube: KubeClient, namespace: str
) -> None:
    harness.reconcile()
    kube.patch(GV, "InfraAgent", "alpha", {"spec": {"description": "edited by hand"}}, namespace)
    untouched = harness.live("InfraAgent", "beta")
    commit_files(bare, {"README.md": "unrelated\n"})
    result = harness.reconcile()
    assert result.applied == 1
    alpha, beta = harness.live("InfraAgent", "alpha"), harness.live("InfraAgent", "beta")
    assert alpha is not None and alpha["spec"]["description"] == "watches things"
    assert beta == untouched


def test_a_pinned_tag_is_followed_instead_of_the_branch(harness: Harness, bare: Path) -> None:
    tagged = commit_files(bare, {"agents/gamma.yaml": agent("gamma")})
    git("tag", "v1", tagged, cwd=bare)
    commit_files(bare, {"agents/delta.yaml": agent("delta")})
    harness.source(revision="v1")
    result = harness.reconcile()
    assert result.revision == tagged and harness.status()["lastAppliedRevision"] == tagged
    assert harness.live("InfraAgent", "gamma") is not None
    assert harness.live("InfraAgent", "delta") is None


def test_namespaced_objects_go_to_the_target_namespace(
    harness: Harness, kube: KubeClient, namespace: str
) -> None:
    target = f"{namespace[:55]}-target"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}})
    try:
        harness.source(targetNamespace=target)
        assert harness.reconcile().outcome == "applied"
        alpha = kube.get(GV, "InfraAgent", "alpha", target)
        assert alpha["metadata"]["labels"][SOURCE_NAMESPACE_LABEL] == namespace
        assert harness.live("InfraAgent", "alpha") is None
        skill = kube.get("v1", "ConfigMap", "infraagent-skill-hello-world", target)
        assert skill["data"][SKILL_MD_KEY].startswith("---")
    finally:
        kube.delete("v1", "Namespace", target)


def test_a_failed_list_of_owned_objects_blocks_pruning_but_not_applying(
    harness: Harness, bare: Path
) -> None:
    harness.reconcile()

    def failing_list(*args: object, **kwargs: object) -> None:
        raise KubeError("list InfraAgent: 503 ServiceUnavailable", status=503)

    harness.cluster.list = failing_list  # type: ignore[method-assign]
    commit_files(bare, {"agents/gamma.yaml": agent("gamma")}, delete=("agents/alpha.yaml",))
    result = harness.reconcile()
    assert result.pruned == 0 and harness.live("InfraAgent", "alpha") is not None
    assert harness.live("InfraAgent", "gamma") is not None
    assert "listing owned objects failed" in harness.ready()["message"]
    del harness.cluster.list
    assert harness.reconcile().pruned == 1, "retried without waiting for a new commit"
    assert harness.live("InfraAgent", "alpha") is None
