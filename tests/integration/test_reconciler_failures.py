"""When fetching fails, and the command line: real API server, real Git over HTTP with auth.

Wrong credentials, a missing branch and an unreachable remote each give ``Ready=False`` with
their reason (and an Event), keep the last applied state (nothing pruned, nothing new), and
recover on the next good poll. ``infraagent reconcile --repo … --once`` exits 0 when all
applied, 1 when a definition failed, 2 when the fetch failed.
"""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infraagent.adapters.kube import KubeClient
from infraagent.cli.main import main
from tests.integration.gitserver import (
    GitHttpServer,
    commit_files,
    git_http_server,
    make_bare_repo,
)

from .conftest import ControlPlane
from .test_reconciler_support import Harness, agent, fleet_files

__all__ = ["git_http_server"]


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    """An admin client, with the CRDs installed."""
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


def _secret(kube: KubeClient, namespace: str, user: str, token: str) -> None:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in (("username", user),
            ("token", token))}  # fmt: skip
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "data": data,
        }
    )


@pytest.fixture
def served(
    git_http_server: GitHttpServer,
    kube: KubeClient,
    crds: list[str],
    namespace: str,
    tmp_path: Path,
) -> tuple[GitHttpServer, Path, Harness]:
    bare = make_bare_repo(git_http_server.root, "fleet.git", fleet_files(namespace))
    _secret(kube, namespace, git_http_server.user, git_http_server.token)
    harness = Harness(kube, namespace, git_http_server.url("fleet.git"), tmp_path / "cache")
    harness.source(secretRef={"name": "creds"})
    assert harness.reconcile().outcome == "applied"
    return git_http_server, bare, harness


def _assert_kept(harness: Harness, reason: str, applied: str) -> None:
    ready = harness.ready()
    assert (ready["status"], ready["reason"]) == ("False", reason)
    conditions = {c["type"]: c for c in harness.status()["conditions"]}
    assert conditions["Reconciling"]["status"] == "True"
    assert harness.status()["lastAppliedRevision"] == applied
    assert len(harness.status()["inventory"]) == 5
    assert harness.live("InfraAgent", "alpha") is not None
    assert harness.live("InfraAgent", "gamma") is None
    assert any(e["reason"] == reason and e["type"] == "Warning" for e in harness.events())


def test_wrong_credentials_keep_the_last_state_and_recover(
    served: tuple[GitHttpServer, Path, Harness], kube: KubeClient, namespace: str
) -> None:
    server, bare, harness = served
    applied = harness.status()["lastAppliedRevision"]
    commit_files(bare, {"agents/gamma.yaml": agent("gamma")}, delete=("agents/alpha.yaml",))
    _secret(kube, namespace, server.user, "wrong-token")
    result = harness.reconcile()
    assert result.outcome == "failed" and result.pruned == 0
    _assert_kept(harness, "AuthenticationFailed", applied)
    assert "wrong-token" not in str(harness.status()) and server.token not in str(harness.events())
    _secret(kube, namespace, server.user, server.token)
    assert harness.reconcile().outcome == "applied"
    assert harness.ready()["status"] == "True" and harness.live("InfraAgent", "gamma") is not None


def test_a_missing_branch_keeps_the_last_state_and_recovers(
    served: tuple[GitHttpServer, Path, Harness],
) -> None:
    _, bare, harness = served
    applied = harness.status()["lastAppliedRevision"]
    commit_files(bare, {"agents/gamma.yaml": agent("gamma")}, delete=("agents/alpha.yaml",))
    harness.source(secretRef={"name": "creds"}, branch="no-such-branch")
    assert harness.reconcile().outcome == "failed"
    _assert_kept(harness, "RefNotFound", applied)
    harness.source(secretRef={"name": "creds"}, branch="main")
    assert harness.reconcile().outcome == "applied" and harness.ready()["status"] == "True"
    assert harness.live("InfraAgent", "alpha") is None


def test_an_unreachable_remote_keeps_the_last_state_and_recovers(
    served: tuple[GitHttpServer, Path, Harness],
) -> None:
    server, bare, harness = served
    applied = harness.status()["lastAppliedRevision"]
    commit_files(bare, {"agents/gamma.yaml": agent("gamma")}, delete=("agents/alpha.yaml",))
    server.stop()
    assert harness.reconcile().outcome == "failed"
    _assert_kept(harness, "RemoteUnreachable", applied)
    assert harness.state.failures == 1
    again = GitHttpServer(server.root, server.user, server.token)
    try:
        harness.url = again.url("fleet.git")
        harness.source(secretRef={"name": "creds"})
        assert harness.reconcile().outcome == "applied"
        assert harness.ready()["status"] == "True" and harness.state.failures == 0
    finally:
        again.stop()


def _cli(control_plane: ControlPlane, namespace: str, repo: str, *extra: str) -> int:
    return main(
        ["reconcile", "--repo", repo, "--namespace", namespace, "--once", "--apply-only",
         "--kubeconfig", str(control_plane.kubeconfig), *extra]
    )  # fmt: skip


def test_the_command_line_exit_status_follows_the_outcome(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", fleet_files(namespace))
    cache = ["--workdir", str(tmp_path / "cache")]
    assert _cli(control_plane, namespace, str(bare), *cache) == 0
    out = capsys.readouterr().out
    assert "fleet: applied" in out and "ReconciliationSucceeded" in out
    agent_obj = kube.get("core.infraagent.io/v1alpha1", "InfraAgent", "alpha", namespace)
    assert agent_obj["metadata"]["labels"]["infraagent.io/source-name"] == "fleet"
    commit_files(bare, {"agents/beta.yaml": "kind: [\n"}, delete=("agents/alpha.yaml",))
    assert _cli(control_plane, namespace, bare.as_uri(), *cache) == 1
    assert "agents/beta.yaml" in capsys.readouterr().out
    assert kube.get("core.infraagent.io/v1alpha1", "InfraAgent", "alpha", namespace)
    assert _cli(control_plane, namespace, str(bare), "--branch", "nope", *cache) == 2
    assert "RefNotFound" in capsys.readouterr().out
    commit_files(bare, {"agents/beta.yaml": agent("beta")})
    assert _cli(control_plane, namespace, str(bare), *cache) == 0
    names = {i["metadata"]["name"] for i in kube.list(
        "core.infraagent.io/v1alpha1", "InfraAgent", namespace).items}  # fmt: skip
    assert names == {"beta"}, "the CLI's implicit source prunes what its own labels mark"
    assert _cli(control_plane, namespace, str(bare), "--name", "Not_A_Name", *cache) == 2


def test_without_once_the_command_serves_until_interrupted(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", fleet_files(namespace))
    argv = [sys.executable, "-m", "infraagent.cli.main", "reconcile", "--repo", str(bare),
            "--namespace", namespace, "--kubeconfig", str(control_plane.kubeconfig),
            "--workdir", str(tmp_path / "cache"), "--apply-only"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            names = kube.list("core.infraagent.io/v1alpha1", "InfraAgent", namespace).items
            if len(names) == 2:
                break
            time.sleep(0.2)
        assert process.poll() is None, "the command exited instead of serving"
        assert len(names) == 2
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert b"outcome=applied" in err


def test_unusable_credentials_stall_the_source_without_showing_them(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", fleet_files(namespace))
    token, key = "tok-do-not-show-1234", "-----BEGIN KEY do-not-show-5678-----"
    data = {"username": "bot", "token": token, "identity": key}
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    secret = {"apiVersion": "v1", "kind": "Secret", "data": encoded,
              "metadata": {"name": "creds", "namespace": namespace}}  # fmt: skip
    kube.apply(secret)
    harness = Harness(kube, namespace, bare.as_uri(), tmp_path / "cache")
    harness.source(secretRef={"name": "creds"})
    assert harness.reconcile().outcome == "stalled"
    conditions = {c["type"]: c for c in harness.status()["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Ready"]["reason"] == "InvalidSource"
    seen = str(harness.status()) + str(harness.events())
    assert token not in seen and "do-not-show" not in seen
