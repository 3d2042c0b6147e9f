"""Per-agent identity on a real kube-apiserver: the generated RBAC is all an agent can do.

An agent whose only action permits ``patch deployments.apps`` in its namespace (``shop``):
applied as the admin, then exercised through impersonation of the agent's ServiceAccount.
The restart works; the delete, a patch in another namespace, reading Secrets and creating a
RoleBinding are refused by the server (403). Reading pods works (the read ClusterRole).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from infraagent.identity import agent_rbac, service_account_name
from infraagent.models.agent import InfraAgent
from infraagent.models.skill import ActionSheet

from .conftest import ControlPlane

STRATEGIC = "application/strategic-merge-patch+json"
SHEET = ActionSheet.model_validate(
    {
        "actions": [
            {
                "id": "restart",
                "description": "Restart a deployment",
                "tier": "service-mutation",
                "kube": {"verbs": ["patch"], "resources": ["deployments.apps"]},
            }
        ]
    }
)


def _agent(name: str, namespace: str) -> InfraAgent:
    return InfraAgent.model_validate(
        {
            "apiVersion": "core.infraagent.io/v1alpha1",
            "kind": "InfraAgent",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "description": "Restarts the shop",
                "schedule": {"interval": "5m"},
                "model": {"tier": "fast"},
                "skills": [{"name": "ops"}],
                "guardrails": {"autonomy": "automate-safe"},
                "environmentRef": "lab",
            },
        }
    )


def _sheet_for(namespace: str) -> ActionSheet:
    data = SHEET.model_dump(exclude_none=True)
    data["actions"][0]["kube"]["namespaces"] = [namespace]
    return ActionSheet.model_validate(data)


def _creator(api: Any, manifest: dict[str, Any]) -> Callable[[], Any]:
    kind, namespace = manifest["kind"], manifest["metadata"].get("namespace")
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    creators: dict[str, Callable[[], Any]] = {
        "ServiceAccount": lambda: core.create_namespaced_service_account(namespace, manifest),
        "ClusterRole": lambda: rbac.create_cluster_role(manifest),
        "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(manifest),
        "Role": lambda: rbac.create_namespaced_role(namespace, manifest),
        "RoleBinding": lambda: rbac.create_namespaced_role_binding(namespace, manifest),
    }
    return creators[kind]


def _delete_cluster_scoped(api: Any, manifests: list[dict[str, Any]]) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    for m in manifests:
        with contextlib.suppress(ApiException):
            if m["kind"] == "ClusterRole":
                rbac.delete_cluster_role(m["metadata"]["name"])
            elif m["kind"] == "ClusterRoleBinding":
                rbac.delete_cluster_role_binding(m["metadata"]["name"])


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def _restart_body() -> dict[str, Any]:
    stamp = dt.datetime.now(dt.UTC).isoformat()
    annotations = {"kubectl.kubernetes.io/restartedAt": stamp}
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


def _forbidden(call: Callable[[], Any]) -> None:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 403, caught.value.body


@pytest.fixture
def other_namespace(kube_api: Any) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"other-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)


@pytest.fixture
def as_agent(control_plane: ControlPlane) -> Iterator[Callable[[str, str], Any]]:
    """An ApiClient that impersonates an agent's ServiceAccount (closed after the test)."""
    opened: list[Any] = []

    def make(name: str, namespace: str) -> Any:
        api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
        user = f"system:serviceaccount:{namespace}:{service_account_name(name)}"
        # One Impersonate-Group header is all the client can send (its default headers are a
        # dict); for a ServiceAccount user without groups the server adds system:serviceaccounts,
        # system:serviceaccounts:<namespace> and system:authenticated itself (checked below).
        api.set_default_header("Impersonate-User", user)
        opened.append(api)
        return api

    yield make
    for api in opened:
        api.close()


def test_agent_identity_is_exactly_its_action_sheet(
    kube_api: Any, namespace: str, other_namespace: str, as_agent: Callable[[str, str], Any]
) -> None:
    shop, name = namespace, f"restarter-{uuid.uuid4().hex[:6]}"
    manifests = agent_rbac(_agent(name, shop), {"ops": _sheet_for(shop)})
    assert {m["metadata"].get("namespace") for m in manifests} == {shop, None}
    try:
        for manifest in manifests:
            _creator(kube_api, manifest)()
        admin_apps = client.AppsV1Api(kube_api)
        admin_apps.create_namespaced_deployment(shop, _deployment("web"))
        admin_apps.create_namespaced_deployment(other_namespace, _deployment("web"))
        _exercise(as_agent(name, shop), shop, other_namespace, name)
        restarted = admin_apps.read_namespaced_deployment("web", shop)
        assert "kubectl.kubernetes.io/restartedAt" in restarted.spec.template.metadata.annotations
        assert (
            admin_apps.read_namespaced_deployment(
                "web", other_namespace
            ).spec.template.metadata.annotations
            is None
        )
    finally:
        _delete_cluster_scoped(kube_api, manifests)


def _exercise(api: Any, shop: str, other: str, name: str) -> None:
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    info = review.status.user_info
    assert info.username == f"system:serviceaccount:{shop}:infraagent-agent-{name}"
    assert {"system:serviceaccounts", f"system:serviceaccounts:{shop}"} <= set(info.groups)
    assert "system:authenticated" in info.groups

    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    restart = _restart_body()
    apps.patch_namespaced_deployment("web", shop, restart, _content_type=STRATEGIC)

    _forbidden(lambda: apps.delete_namespaced_deployment("web", shop))
    _forbidden(
        lambda: apps.patch_namespaced_deployment("web", other, restart, _content_type=STRATEGIC)
    )
    _forbidden(lambda: apps.delete_namespaced_deployment("web", other))
    assert core.list_namespaced_pod(shop).items == []
    core.list_pod_for_all_namespaces()
    _forbidden(lambda: core.list_namespaced_secret(shop))
    _forbidden(lambda: core.read_namespaced_secret("anything", shop))
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "escalate"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": shop}],
    }
    _forbidden(lambda: rbac.create_namespaced_role_binding(shop, binding))
