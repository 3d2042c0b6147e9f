"""``infraagent install`` on the real kube-apiserver: it installs, and twice changes nothing."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.cli.main import main
from infraagent.errors import KubeError
from infraagent.install import install_manifests

from .conftest import ControlPlane

_CLUSTER_SCOPED_LEFTOVERS = (
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
)


@pytest.fixture
def kube(control_plane: ControlPlane) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture
def operator_namespace(kube: KubeClient) -> Iterator[str]:
    """A fresh operator namespace; the cluster-wide objects install adds are removed after."""
    namespace = f"infraagent-install-{uuid.uuid4().hex[:6]}"
    yield namespace
    for doc in install_manifests(namespace):
        if (doc["apiVersion"], doc["kind"]) in _CLUSTER_SCOPED_LEFTOVERS:
            with contextlib.suppress(KubeError):
                kube.delete(doc["apiVersion"], doc["kind"], doc["metadata"]["name"])
    with contextlib.suppress(KubeError):
        kube.delete("v1", "Namespace", namespace)


def _resource_versions(kube: KubeClient, docs: list[dict[str, Any]]) -> dict[str, str]:
    versions = {}
    for doc in docs:
        meta = doc["metadata"]
        live = kube.get(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace"))
        versions[f"{doc['kind']}/{meta['name']}"] = live["metadata"]["resourceVersion"]
    return versions


def _settled(kube: KubeClient, docs: list[dict[str, Any]], timeout: float = 30) -> None:
    """Wait for the API server's own status writer (CRDs become Established)."""
    deadline = time.monotonic() + timeout
    for doc in docs:
        if doc["kind"] != "CustomResourceDefinition":
            continue
        while time.monotonic() < deadline:
            live = kube.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"])
            status = live.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
            if conditions.get("Established") == "True":
                break
            time.sleep(0.2)


def test_install_twice_changes_nothing(
    control_plane: ControlPlane,
    kube: KubeClient,
    operator_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["install", "--kubeconfig", str(control_plane.kubeconfig)]
    argv += ["--namespace", operator_namespace]
    docs = install_manifests(operator_namespace)
    names = [f"{d['kind']}/{d['metadata']['name']}" for d in docs]

    assert main(argv) == 0
    first = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in first] == names
    assert f"created Namespace/{operator_namespace}" in first
    assert "created Deployment/infraagent-operator" in first
    _settled(kube, docs)
    before = _resource_versions(kube, docs)

    assert main(argv) == 0
    second = capsys.readouterr().out.splitlines()
    assert second == [f"unchanged {name}" for name in names]
    assert _resource_versions(kube, docs) == before

    deployment = kube.get("apps/v1", "Deployment", "infraagent-operator", operator_namespace)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "infraagent-operator"


def test_install_reports_a_changed_object_as_configured(
    control_plane: ControlPlane,
    kube: KubeClient,
    operator_namespace: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["install", "--kubeconfig", str(control_plane.kubeconfig)]
    argv += ["--namespace", operator_namespace]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--image", "registry.example/infraagent:2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "configured Deployment/infraagent-operator" in out
    assert sum(not line.startswith("unchanged ") for line in out) == 1
    live = kube.get("apps/v1", "Deployment", "infraagent-operator", operator_namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/infraagent:2"
    )


def test_export_prints_the_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--export", "--namespace", "ops", "--image", "x/y:1"]) == 0
    exported = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d is not None]
    assert exported == install_manifests("ops", "x/y:1")


def test_install_without_a_cluster_refuses(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert main(["install"]) == 2
    assert "--export" in capsys.readouterr().err


def test_unreachable_cluster_exits_1(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], control_plane: ControlPlane
) -> None:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    broken = tmp_path / "kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    assert main(["install", "--kubeconfig", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "unreachable" in err
    assert "client-key" not in err
