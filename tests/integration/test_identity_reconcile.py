"""The operator's reconcilers on a real kube-apiserver: agent identities and the admission policy.

``reconcile_identity`` creates an agent's ServiceAccount and RBAC, owned by the InfraAgent in
its own namespace; a second pass writes nothing; a changed Action Sheet adds the new Role and
prunes the stale one; ``remove_identity`` leaves nothing. ``ensure_admission_policy`` creates
the policy, then leaves it alone, restores it when deleted and reverts an edit.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from infraagent.adapters.kube import KubeClient
from infraagent.admission import BINDING_NAME, POLICY_NAME, admission_policy
from infraagent.errors import KubeError, KubeNotFound
from infraagent.identity import service_account_name
from infraagent.models.agent import InfraAgent
from infraagent.models.skill import ActionSheet
from infraagent.operator.admission import ensure_admission_policy
from infraagent.operator.identity import agent_selector, reconcile_identity, remove_identity

from .conftest import ControlPlane

_ADMISSION_API = "admissionregistration.k8s.io/v1"
_RBAC_API = "rbac.authorization.k8s.io/v1"
_KINDS = (
    ("v1", "ServiceAccount"),
    (_RBAC_API, "Role"),
    (_RBAC_API, "RoleBinding"),
    (_RBAC_API, "ClusterRole"),
    (_RBAC_API, "ClusterRoleBinding"),
)


@pytest.fixture
def kube(control_plane: ControlPlane) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as cluster:
        yield cluster


@pytest.fixture
def second_namespace(kube: KubeClient) -> Iterator[str]:
    name = f"second-{uuid.uuid4().hex[:6]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    with contextlib.suppress(KubeError):
        kube.delete("v1", "Namespace", name)


def _sheet(namespace: str) -> ActionSheet:
    return ActionSheet.model_validate(
        {
            "actions": [
                {
                    "id": "restart",
                    "description": "Restart a deployment",
                    "tier": "service-mutation",
                    "kube": {
                        "verbs": ["patch"],
                        "resources": ["deployments.apps"],
                        "namespaces": [namespace],
                    },
                }
            ]
        }
    )


def _create_agent(kube: KubeClient, name: str, namespace: str) -> InfraAgent:
    created = kube.create(
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
    return InfraAgent.model_validate(created)


def _live(kube: KubeClient, name: str, home: str) -> dict[str, dict[str, Any]]:
    """Every object labelled for the agent, by ``Kind/[namespace/]name``."""
    found = {}
    for api_version, kind in _KINDS:
        for obj in kube.list(api_version, kind, label_selector=agent_selector(name, home)).items:
            meta = obj["metadata"]
            where = f"{meta['namespace']}/" if meta.get("namespace") else ""
            found[f"{kind}/{where}{meta['name']}"] = obj
    return found


def test_identity_follows_the_sheets_and_goes_with_the_agent(
    kube: KubeClient, crds: list[str], namespace: str, second_namespace: str
) -> None:
    home, other = namespace, second_namespace
    name = f"restarter-{uuid.uuid4().hex[:6]}"
    agent = _create_agent(kube, name, home)
    assert agent.metadata.uid
    namespaces = [home, other]
    try:
        _check_reconcile_cycle(kube, agent, home, other, namespaces)
        removed = remove_identity(kube, name, home)
        assert {outcome for _, outcome in removed} == {"deleted"}
        assert _live(kube, name, home) == {}
    finally:
        remove_identity(kube, name, home)
        with contextlib.suppress(KubeError):
            kube.delete("core.infraagent.io/v1alpha1", "InfraAgent", name, home)


def _check_reconcile_cycle(
    kube: KubeClient, agent: InfraAgent, home: str, other: str, namespaces: list[str]
) -> None:
    name, role = str(agent.metadata.name), f"infraagent-agent:{home}:{agent.metadata.name}"
    first = dict(reconcile_identity(kube, agent, {"ops": _sheet(home)}, namespaces=namespaces))
    assert set(first.values()) == {"created"}
    live = _live(kube, name, home)
    assert set(live) == set(first)
    assert f"ServiceAccount/{home}/{service_account_name(name)}" in live
    assert {f"Role/{home}/{role}", f"RoleBinding/{home}/{role}"} <= set(live)
    assert any(key.startswith("ClusterRole/") for key in live)
    for key, obj in live.items():
        owners = obj["metadata"].get("ownerReferences") or []
        if obj["metadata"].get("namespace") == home:
            assert [(o["kind"], o["uid"], o["controller"]) for o in owners] == [
                ("InfraAgent", agent.metadata.uid, True)
            ], key
            assert owners[0]["blockOwnerDeletion"] is False
        else:
            assert owners == [], key
    versions = {key: obj["metadata"]["resourceVersion"] for key, obj in live.items()}

    second = reconcile_identity(kube, agent, {"ops": _sheet(home)}, namespaces=namespaces)
    assert dict(second) == dict.fromkeys(first, "unchanged")
    after = _live(kube, name, home)
    assert {key: obj["metadata"]["resourceVersion"] for key, obj in after.items()} == versions

    third = dict(reconcile_identity(kube, agent, {"ops": _sheet(other)}, namespaces=namespaces))
    assert third[f"Role/{other}/{role}"] == "created"
    assert third[f"RoleBinding/{other}/{role}"] == "created"
    assert third[f"Role/{home}/{role}"] == "deleted"
    assert third[f"RoleBinding/{home}/{role}"] == "deleted"
    now = _live(kube, name, home)
    assert f"Role/{home}/{role}" not in now
    assert f"RoleBinding/{home}/{role}" not in now
    assert f"Role/{other}/{role}" in now
    assert now[f"Role/{other}/{role}"]["metadata"].get("ownerReferences") is None
    assert now[f"ServiceAccount/{home}/{service_account_name(name)}"]["metadata"][
        "ownerReferences"
    ][0]["uid"] == (agent.metadata.uid)


# --------------------------------------------------------------------------- admission policy


@pytest.fixture
def no_policy(kube: KubeClient) -> Iterator[None]:
    """The admission policy absent before the test, and removed after it."""

    def remove() -> None:
        for kind, name in (
            ("ValidatingAdmissionPolicyBinding", BINDING_NAME),
            ("ValidatingAdmissionPolicy", POLICY_NAME),
        ):
            with contextlib.suppress(KubeNotFound):
                kube.delete(_ADMISSION_API, kind, name)
        for kind, name in (
            ("ValidatingAdmissionPolicyBinding", BINDING_NAME),
            ("ValidatingAdmissionPolicy", POLICY_NAME),
        ):
            _wait_gone(kube, kind, name)

    remove()
    yield
    remove()


def _wait_gone(kube: KubeClient, kind: str, name: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kube.get(_ADMISSION_API, kind, name)
        except KubeNotFound:
            return
        time.sleep(0.1)
    pytest.fail(f"{kind} {name} still there after {timeout}s")


def _versions(kube: KubeClient) -> dict[str, str]:
    return {
        doc["kind"]: kube.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"])["metadata"][
            "resourceVersion"
        ]
        for doc in admission_policy()
    }


def test_the_operator_keeps_the_admission_policy(
    kube: KubeClient, kube_api: Any, no_policy: None
) -> None:
    policy = f"ValidatingAdmissionPolicy/{POLICY_NAME}"
    binding = f"ValidatingAdmissionPolicyBinding/{BINDING_NAME}"
    assert ensure_admission_policy(kube) == [(policy, "created"), (binding, "created")]
    versions = _versions(kube)
    assert ensure_admission_policy(kube) == [(policy, "unchanged"), (binding, "unchanged")]
    assert _versions(kube) == versions

    kube.delete(_ADMISSION_API, "ValidatingAdmissionPolicy", POLICY_NAME)
    _wait_gone(kube, "ValidatingAdmissionPolicy", POLICY_NAME)
    assert ensure_admission_policy(kube) == [(policy, "created"), (binding, "unchanged")]
    kube.get(_ADMISSION_API, "ValidatingAdmissionPolicy", POLICY_NAME)

    client.AdmissionregistrationV1Api(kube_api).patch_validating_admission_policy_binding(
        BINDING_NAME,
        {"spec": {"validationActions": ["Warn"]}},
        field_manager="someone-else",
        _content_type="application/merge-patch+json",
    )
    edited = kube.get(_ADMISSION_API, "ValidatingAdmissionPolicyBinding", BINDING_NAME)
    assert edited["spec"]["validationActions"] == ["Warn"]
    assert ensure_admission_policy(kube) == [(policy, "unchanged"), (binding, "replaced")]
    live = kube.get(_ADMISSION_API, "ValidatingAdmissionPolicyBinding", BINDING_NAME)
    assert live["spec"]["validationActions"] == ["Deny"]
    assert ensure_admission_policy(kube) == [(policy, "unchanged"), (binding, "unchanged")]
