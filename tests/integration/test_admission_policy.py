"""Layer three on a real kube-apiserver: the admission policy protects data from agents.

The worst case is set up on purpose: the guardrail engine is bypassed (direct API calls)
and the agent's ServiceAccount ``infraagent-agent-tester`` is bound to a ClusterRole granting
``*`` on ``*``. Impersonating it, every data mutation must still be refused by the API server
with InfraAgent's message; the same calls as the ordinary admin must succeed (the policy only
targets agents), and ordinary agent work (ConfigMaps, Deployments, labels) must keep working.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from infraagent.admission import (
    BINDING_NAME,
    MESSAGE_PREFIX,
    POLICY_NAME,
    admission_policy,
    agent_service_account_name,
    agent_username,
)

from .conftest import FIELD_MANAGER, REPO, ControlPlane

AGENT = "tester"
EVERYTHING = "infraagent-test-everything"
MERGE = "application/merge-patch+json"
GROUP, VERSION = "core.infraagent.io", "v1alpha1"
_EFFECTIVE_TIMEOUT = 20.0


# --------------------------------------------------------------------------- fixtures


def _apply(kube_api: Any, doc: dict[str, Any]) -> None:
    """Server-side apply one admissionregistration.k8s.io/v1 object as the admin."""
    api = client.AdmissionregistrationV1Api(kube_api)
    patch = (
        api.patch_validating_admission_policy
        if doc["kind"] == "ValidatingAdmissionPolicy"
        else api.patch_validating_admission_policy_binding
    )
    patch(
        doc["metadata"]["name"],
        doc,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )


@pytest.fixture(scope="module")
def policy(kube_api: Any) -> Iterator[dict[str, Any]]:
    """The policy and binding installed, and a ClusterRole granting ``*`` on ``*``."""
    rbac = client.RbacAuthorizationV1Api(kube_api)
    docs = admission_policy()
    try:
        rbac.create_cluster_role(
            {
                "metadata": {"name": EVERYTHING},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
            }
        )
        for doc in docs:
            _apply(kube_api, doc)
        yield docs[0]
    finally:
        adm = client.AdmissionregistrationV1Api(kube_api)
        for delete in (
            lambda: adm.delete_validating_admission_policy_binding(BINDING_NAME),
            lambda: adm.delete_validating_admission_policy(POLICY_NAME),
            lambda: rbac.delete_cluster_role(EVERYTHING),
        ):
            with contextlib.suppress(ApiException):
                delete()


def _client_as(control_plane: ControlPlane, username: str | None) -> Any:
    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    if username is not None:
        # A ServiceAccount username without Impersonate-Group gets the ServiceAccount groups
        # (system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated).
        api.set_default_header("Impersonate-User", username)
    return api


@pytest.fixture
def agent(
    control_plane: ControlPlane, kube_api: Any, namespace: str, policy: dict[str, Any]
) -> Iterator[Any]:
    """An ApiClient impersonating ``infraagent-agent-tester``, bound to ``*`` on ``*``."""
    sa = agent_service_account_name(AGENT)
    client.CoreV1Api(kube_api).create_namespaced_service_account(
        namespace, {"metadata": {"name": sa}}
    )
    binding = f"{EVERYTHING}-{namespace}"
    rbac = client.RbacAuthorizationV1Api(kube_api)
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": binding},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": EVERYTHING,
            },
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}],
        }
    )
    api = _client_as(control_plane, agent_username(namespace, AGENT))
    try:
        _wait_effective(kube_api, api, namespace)
        yield api
    finally:
        api.close()
        with contextlib.suppress(ApiException):
            rbac.delete_cluster_role_binding(binding)


def _secret(kube_api: Any, namespace: str, name: str) -> None:
    client.CoreV1Api(kube_api).create_namespaced_secret(
        namespace, {"metadata": {"name": name}, "stringData": {"k": "v"}}
    )


def _wait_effective(kube_api: Any, agent_api: Any, namespace: str) -> None:
    """Policies load asynchronously: retry a real guarded delete until it is denied."""
    name = "sentinel"
    deadline = time.monotonic() + _EFFECTIVE_TIMEOUT
    while True:
        _secret(kube_api, namespace, name)
        try:
            client.CoreV1Api(agent_api).delete_namespaced_secret(name, namespace)
        except ApiException as e:
            if e.status in (403, 422) and MESSAGE_PREFIX in (e.body or ""):
                return
            raise
        if time.monotonic() > deadline:
            pytest.fail(f"the admission policy was not effective after {_EFFECTIVE_TIMEOUT}s")
        time.sleep(0.5)


# --------------------------------------------------------------------------- helpers


def _denied(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ApiException) as caught:
        call()
    err = caught.value
    assert err.status in (403, 422), err.body
    reason = json.loads(err.body)["message"]
    assert MESSAGE_PREFIX + message in reason, reason


def _pv(name: str, reclaim: str = "Retain") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": reclaim,
            "hostPath": {"path": "/tmp/infraagent-test"},
        },
    }


def _pvc(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "finalizers": ["kubernetes.io/pvc-protection"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _data(kube_api: Any, namespace: str) -> dict[str, str]:
    """A PVC, a PV (Retain), a Secret and an InfraAgent, created by the admin."""
    core = client.CoreV1Api(kube_api)
    pv = f"pv-{uuid.uuid4().hex[:8]}"
    core.create_persistent_volume(_pv(pv))
    core.create_namespaced_persistent_volume_claim(namespace, _pvc("data"))
    _secret(kube_api, namespace, "db-password")
    agent_doc = yaml.safe_load((REPO / "agents/hello-world.yaml").read_text(encoding="utf-8"))
    client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, "infraagents", agent_doc
    )
    return {"pv": pv, "pvc": "data", "secret": "db-password", "agent": "hello-world"}


def _control_calls(api: Any, namespace: str, agent: str) -> dict[str, Callable[[], Any]]:
    """Writes to RBAC and to InfraAgent resources, keyed by the policy's answer."""
    rbac = client.RbacAuthorizationV1Api(api)
    custom = client.CustomObjectsApi(api)
    crb = {
        "metadata": {"name": f"escalate-{uuid.uuid4().hex[:8]}"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "User", "name": "mallory"}],
    }
    patch = {"spec": {"description": "changed by an agent"}}
    return {
        "agents never create, change or delete RBAC objects": lambda: (
            rbac.create_cluster_role_binding(crb)
        ),
        "agents never create, change or delete InfraAgent resources": lambda: (
            custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, "infraagents", agent, patch
            )
        ),
    }


def _calls(api: Any, namespace: str, names: dict[str, str]) -> dict[str, Callable[[], Any]]:
    """Every guarded call, keyed by the message the policy answers it with."""
    core = client.CoreV1Api(api)
    return {
        **_control_calls(api, namespace, names["agent"]),
        "agents never remove finalizers from PersistentVolumeClaims": lambda: (
            core.patch_namespaced_persistent_volume_claim(
                names["pvc"], namespace, {"metadata": {"finalizers": None}}, _content_type=MERGE
            )
        ),
        "agents never remove finalizers from PersistentVolumes": lambda: (
            core.patch_persistent_volume(
                names["pv"], {"metadata": {"finalizers": None}}, _content_type=MERGE
            )
        ),
        "agents never set a PersistentVolume's reclaim policy to Delete": lambda: (
            core.patch_persistent_volume(
                names["pv"], {"spec": {"persistentVolumeReclaimPolicy": "Delete"}}
            )
        ),
        "agents never delete PersistentVolumeClaims": lambda: (
            core.delete_namespaced_persistent_volume_claim(names["pvc"], namespace)
        ),
        "agents never delete Secrets": lambda: core.delete_namespaced_secret(
            names["secret"], namespace
        ),
        "agents never delete PersistentVolumes": lambda: core.delete_persistent_volume(names["pv"]),
        "agents never delete Namespaces": lambda: core.delete_namespace(namespace),
    }


# --------------------------------------------------------------------------- tests


def test_agent_data_mutations_are_denied(
    kube_api: Any, agent: Any, namespace: str, crds: list[str]
) -> None:
    names = _data(kube_api, namespace)
    for message, call in _calls(agent, namespace, names).items():
        _denied(call, message)
    core = client.CoreV1Api(agent)
    _denied(
        lambda: core.delete_collection_namespaced_secret(namespace),
        "agents never delete Secrets",
    )
    pvc = core.read_namespaced_persistent_volume_claim(names["pvc"], namespace)
    pvc.metadata.finalizers = []
    _denied(  # a PUT (replace) is an UPDATE too
        lambda: core.replace_namespaced_persistent_volume_claim(names["pvc"], namespace, pvc),
        "agents never remove finalizers from PersistentVolumeClaims",
    )
    still = client.CoreV1Api(kube_api).read_namespaced_persistent_volume_claim("data", namespace)
    assert still.metadata.deletion_timestamp is None
    assert still.metadata.finalizers == ["kubernetes.io/pvc-protection"]


def test_agent_cannot_touch_admission_configuration(agent: Any) -> None:
    """kube-apiserver exempts admission configuration from every admission policy, so the
    policy cannot protect itself: only RBAC and the operator can. This pins that behaviour
    (dry-run, so nothing is deleted) so a server that changes it is noticed."""
    adm = client.AdmissionregistrationV1Api(agent)
    adm.delete_validating_admission_policy(POLICY_NAME, dry_run="All")
    adm.delete_validating_admission_policy_binding(BINDING_NAME, dry_run="All")


def test_agent_cannot_delete_crds(agent: Any, crds: list[str]) -> None:
    ext = client.ApiextensionsV1Api(agent)
    _denied(
        lambda: ext.delete_custom_resource_definition(crds[0], dry_run="All"),
        "agents never create, change or delete CustomResourceDefinitions",
    )


def test_admin_same_calls_succeed(
    control_plane: ControlPlane,
    kube_api: Any,
    namespace: str,
    policy: dict[str, Any],
    crds: list[str],
) -> None:
    names = _data(kube_api, namespace)
    admin = _client_as(control_plane, None)
    try:
        for call in _calls(admin, namespace, names).values():
            call()
        adm = client.AdmissionregistrationV1Api(admin)
        adm.delete_validating_admission_policy(POLICY_NAME, dry_run="All")
    finally:
        admin.close()
    core = client.CoreV1Api(kube_api)
    with pytest.raises(ApiException) as gone:  # its finalizer removed, the delete completed
        core.read_persistent_volume(names["pv"])
    assert gone.value.status == 404
    assert core.read_namespace(namespace).metadata.deletion_timestamp is not None


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def test_agent_ordinary_work_is_allowed(kube_api: Any, agent: Any, namespace: str) -> None:
    client.AppsV1Api(kube_api).create_namespaced_deployment(namespace, _deployment("web"))
    core = client.CoreV1Api(agent)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"a": "b"}})
    core.delete_namespaced_config_map("c", namespace)
    restart = {"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}}
    client.AppsV1Api(agent).patch_namespaced_deployment("web", namespace, restart)
    core.create_namespaced_persistent_volume_claim(namespace, _pvc("scratch"))
    core.patch_namespaced_persistent_volume_claim(
        "scratch", namespace, {"metadata": {"labels": {"tier": "cache"}}}
    )
    core.create_namespaced_secret(namespace, {"metadata": {"name": "new"}})
    pv = f"pv-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(kube_api).create_persistent_volume(_pv(pv, reclaim="Delete"))
    core.patch_persistent_volume(pv, {"metadata": {"labels": {"seen": "yes"}}})
