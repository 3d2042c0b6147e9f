"""Shared set-up for ``test_operator_rbac``: the install, the operator's token, a fleet.

``world`` (fixture) applies ``install_manifests()`` for a fresh operator namespace, with
Secrets readable in the test's namespace, and gives a factory of ``World``: the admin, a
``KubeClient`` holding a TokenRequest token of the operator's ServiceAccount, and a bare
Git repository with a small fleet (agents ``keeper`` and ``spare``, environment ``lab``,
skill ``ops``, a ModelTierConfig whose ``fast`` tier points at a given URL) that a
FleetSource ``fleet`` follows. What the cluster's users own (the key's Secret, a Deployment
and a Pod) is created by the admin. No tests here.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.executor import KubeToolExecutor
from infraagent.admission import POLICY_NAME
from infraagent.cli.reconcile import event_sink, repository_factory
from infraagent.errors import KubeError, KubeNotFound
from infraagent.identity import service_account_name
from infraagent.install import OPERATOR_NAME, install_manifests
from infraagent.loading.snapshot import FleetSnapshotLoader
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.operator.execute import ExecuteDeps
from infraagent.operator.run_inputs import RunInputs
from infraagent.ports import ModelProvider, RunRequest, ToolExecutor
from infraagent.providers import RetryPolicy, config_for_tier, make_provider
from infraagent.reconciler.context import ReconcileResult, ReconcilerPorts, SourceState
from infraagent.reconciler.reconcile import reconcile_once, source_from_object
from tests.integration.gitserver import make_bare_repo

from .conftest import ControlPlane
from .test_execute_support import (
    AGENT,
    KEY,
    SKILL_MD,
    StepClock,
    agent_manifest,
    sheet_yaml,
)

RBAC = "rbac.authorization.k8s.io/v1"
ADMISSION = "admissionregistration.k8s.io/v1"
IMAGE = "registry.example/infraagent:rbac-test"
WAIT = 60.0
GIT_TOKEN = "fleet-token-for-tests-only"
_CLUSTER_SCOPED = (
    (ADMISSION, "ValidatingAdmissionPolicyBinding"),
    (ADMISSION, "ValidatingAdmissionPolicy"),
    (RBAC, "ClusterRoleBinding"),
    (RBAC, "ClusterRole"),
)


def fleet_files(namespace: str, tier_url: str, agents: tuple[str, ...]) -> dict[str, str]:
    """A fleet: agents (``keeper``'s spec), environment ``lab``, skill ``ops``, a tier config."""
    files = {
        "environments/lab.yaml": yaml.safe_dump(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "AgentEnvironment",
                "metadata": {"name": "lab"},
                "spec": {"connection": {"kind": "in-cluster"}},
            }
        ),
        "environments/tiers.yaml": yaml.safe_dump(tiers(namespace, tier_url)),
        "skills/ops/SKILL.md": SKILL_MD,
        "skills/ops/actions.yaml": sheet_yaml(namespace),
    }
    for name in agents:
        manifest = agent_manifest(namespace)
        manifest["metadata"] = {"name": name}
        files[f"agents/{name}.yaml"] = yaml.safe_dump(manifest)
    return files


def tiers(namespace: str, url: str) -> dict[str, Any]:
    auth = {"type": "apiKey", "secretRef": "llm-key", "secretNamespace": namespace}
    tier = {"tier": "fast", "provider": "anthropic", "model": "scripted-fast",
            "endpoint": url, "maxTokens": 1024}  # fmt: skip
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ModelTierConfig",
        "metadata": {"name": f"tiers-{namespace}"},
        "spec": {"defaultAuth": auth, "tiers": [tier]},
    }


def workload(namespace: str) -> list[dict[str, Any]]:
    """What the cluster's users own: the key's Secret, a Deployment and a Pod to look at."""
    labels = {"app": "web"}
    pod_spec = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    secret_data = {"api-key": base64.b64encode(KEY.encode()).decode()}
    return [
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "llm-key", "namespace": namespace}, "data": secret_data},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web-0", "namespace": namespace, "labels": labels},
         "spec": pod_spec},
    ]  # fmt: skip


def token_kubeconfig(control_plane: ControlPlane, namespace: str, path: Path) -> Path:
    """A kubeconfig holding a TokenRequest token of the operator's ServiceAccount."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        request = {"spec": {"audiences": [], "expirationSeconds": 3600}}
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            OPERATOR_NAME, namespace, request
        )
    finally:
        api.close()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    admin["users"] = [{"name": "operator", "user": {"token": token.status.token}}]
    cluster = admin["clusters"][0]["name"]
    admin["contexts"] = [{"name": "operator", "context": {"cluster": cluster, "user": "operator"}}]
    admin["current-context"] = "operator"
    path.write_text(yaml.safe_dump(admin))
    path.chmod(0o600)
    return path


@dataclass
class World:
    """The admin, the operator (its own token), a namespace with a fleet repository."""

    admin: KubeClient
    op: KubeClient
    operator_namespace: str
    namespace: str
    bare: Path
    workdir: Path
    clock: StepClock = field(default_factory=StepClock)
    state: SourceState = field(default_factory=SourceState)

    def reconcile(self, namespace: str | None = None) -> ReconcileResult:
        """One reconcile pass of the FleetSource ``fleet`` (in ``namespace``), as the operator."""
        ports = ReconcilerPorts(
            cluster=self.op,
            loader=FleetSnapshotLoader(),
            clock=self.clock,
            repositories=repository_factory(self.workdir / "cache"),
            events=event_sink(self.op, self.clock),
        )
        where = namespace or self.namespace
        source = self.op.get(GROUP_VERSION, "FleetSource", "fleet", where)
        state = self.state if where == self.namespace else SourceState()
        return reconcile_once(source_from_object(source), ports, state)

    def agents(self) -> list[dict[str, Any]]:
        """The InfraAgents of the test's namespace, listed by the operator."""
        return self.op.list(GROUP_VERSION, "InfraAgent", self.namespace).items

    def exists(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        try:
            self.admin.get(api_version, kind, name, namespace)
        except KubeNotFound:
            return False
        return True

    def request(self, trigger: str = "scheduled") -> RunRequest:
        now = self.clock.value
        return RunRequest(self.namespace, AGENT, trigger, now, scheduled_time=now)

    @property
    def agent_user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{service_account_name(AGENT)}"


@pytest.fixture
def world(
    control_plane: ControlPlane, crds: list[str], namespace: str, tmp_path: Path
) -> Iterator[Callable[[str], World]]:
    """Install for a fresh operator namespace (Secrets readable in ``namespace``); a factory
    of the ``World`` whose fleet's tier points at the given URL."""
    admin = KubeClient.from_kubeconfig(control_plane.kubeconfig)
    operator_namespace = f"infraagent-rbac-{uuid.uuid4().hex[:6]}"
    docs = install_manifests(operator_namespace, IMAGE, secret_namespaces=[namespace])
    opened: list[KubeClient] = [admin]

    def make(tier_url: str) -> World:
        for doc in [*docs, *workload(namespace)]:
            admin.apply(doc)
        files = fleet_files(namespace, tier_url, (AGENT, "spare"))
        bare = make_bare_repo(tmp_path / "remote", "fleet.git", files)
        admin.apply(
            {"apiVersion": GROUP_VERSION, "kind": "FleetSource",
             "metadata": {"name": "fleet", "namespace": namespace},
             "spec": {"url": bare.as_uri(), "interval": "1m"}}
        )  # fmt: skip
        kubeconfig = token_kubeconfig(control_plane, operator_namespace, tmp_path / "op.conf")
        op = KubeClient.from_kubeconfig(kubeconfig)
        opened.append(op)
        return World(admin, op, operator_namespace, namespace, bare, tmp_path)

    try:
        yield make
    finally:
        clean_up(admin, namespace, operator_namespace)
        for client in opened:
            client.close()


def clean_up(admin: KubeClient, namespace: str, operator_namespace: str) -> None:
    """Remove the cluster-scoped objects install and the operator made, then the namespace."""
    leftovers = [(v, k, OPERATOR_NAME) for v, k in _CLUSTER_SCOPED[2:]]
    leftovers += [(v, k, POLICY_NAME) for v, k in _CLUSTER_SCOPED[:2]]
    leftovers.append((GROUP_VERSION, "ModelTierConfig", f"tiers-{namespace}"))
    selector = f"infraagent.io/agent-namespace={namespace}"
    for api_version, kind in _CLUSTER_SCOPED[2:]:
        for obj in admin.list(api_version, kind, label_selector=selector).items:
            leftovers.append((api_version, kind, obj["metadata"]["name"]))
    runs = admin.list(RBAC, "ClusterRoleBinding", label_selector="infraagent.io/agent-run")
    for binding in runs.items:
        if f":{namespace}:" in binding["metadata"]["name"]:
            leftovers.append((RBAC, "ClusterRoleBinding", binding["metadata"]["name"]))
    for api_version, kind, name in leftovers:
        with contextlib.suppress(KubeError):
            admin.delete(api_version, kind, name)
    with contextlib.suppress(KubeError):
        admin.delete("v1", "Namespace", operator_namespace)


def deps(world: World) -> ExecuteDeps:
    """What the composition root wires, all through the operator's own client."""

    def model_for(inputs: RunInputs) -> ModelProvider:
        config = config_for_tier(
            inputs.tier, inputs.default_auth, inputs.secret, timeout_seconds=10
        )
        return make_provider(config, policy=RetryPolicy(initial_backoff=0.01), sleep=lambda _: None)

    def executor_for(agent: InfraAgent) -> ToolExecutor:
        return KubeToolExecutor(world.op, world.agent_user, clock=world.clock)

    return ExecuteDeps(world.op, world.clock, model_for, executor_for)


def apply_as(admin: KubeClient, obj: dict[str, Any], *, manager: str) -> None:
    """Server-side apply under another field manager (someone editing by hand)."""
    from infraagent.adapters.kube.client import APPLY_PATCH, send

    name = obj["metadata"]["name"]
    path = f"/apis/{ADMISSION}/validatingadmissionpolicies/{name}"
    query = [("fieldManager", manager), ("force", "true")]
    answer = send(admin.api_client, "PATCH", path, query=query, body=obj, content_type=APPLY_PATCH)
    assert answer.ok, answer.body


def git_credentials(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "git-creds", "namespace": namespace},
            "stringData": {"username": "fleet-bot", "token": GIT_TOKEN}}  # fmt: skip


def source_manifest(namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": "fleet", "namespace": namespace}
    return {"apiVersion": GROUP_VERSION, "kind": "FleetSource", "metadata": meta, "spec": spec}


@contextlib.contextmanager
def unnamed_namespace(admin: KubeClient) -> Iterator[str]:
    """A namespace the install did not name for Secrets (deleted afterwards)."""
    name = f"unnamed-{uuid.uuid4().hex[:6]}"
    admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(KubeError):
            admin.delete("v1", "Namespace", name)
