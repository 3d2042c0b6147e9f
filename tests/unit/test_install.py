"""The install manifests: complete, ordered, least-privilege and hardened."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.admission import POLICY_NAME
from infraagent.install import LEASE_NAME, install_manifests
from infraagent.models.crd import all_crds


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _rules(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    (role,) = _by_kind(docs, kind)
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def test_every_crd_is_installed_after_the_namespace() -> None:
    docs = install_manifests()
    assert docs[0] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "infraagent-system", "labels": docs[0]["metadata"]["labels"]},
    }
    crds = _by_kind(docs, "CustomResourceDefinition")
    assert crds == list(all_crds().values())
    assert docs[1 : 1 + len(crds)] == crds


def test_order_is_namespace_crds_rbac_policy_workload() -> None:
    kinds = [d["kind"] for d in install_manifests()]
    order = ["Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole"]
    order += ["ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy"]
    order += ["ValidatingAdmissionPolicyBinding", "Deployment", "Service"]
    assert [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k] == order
    assert install_manifests() == install_manifests()  # deterministic


def test_namespace_and_image_are_configurable() -> None:
    docs = install_manifests(namespace="ops", image="registry.example/ia:1.2")
    namespaced = [d for d in docs if "namespace" in d["metadata"]]
    assert namespaced
    assert {d["metadata"]["namespace"] for d in namespaced} == {"ops"}
    (deployment,) = _by_kind(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/ia:1.2"
    )
    for binding in _by_kind(docs, "ClusterRoleBinding") + _by_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "infraagent-operator", "namespace": "ops"}
        ]
    with pytest.raises(ValueError, match="namespace"):
        install_manifests(namespace="Not Valid")
    with pytest.raises(ValueError, match="image"):
        install_manifests(image="")


def test_cluster_role_never_grants_everything() -> None:
    for rule in _rules(install_manifests(), "ClusterRole") + _rules(install_manifests(), "Role"):
        assert "*" not in rule["verbs"], rule
        assert "*" not in rule["apiGroups"], rule
        assert not ("*" in rule["resources"] and "" in rule["apiGroups"]), rule
        if "*" in rule["resources"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule


def _secret_verbs(rules: list[dict[str, Any]]) -> set[str]:
    return {v for r in rules if r["resources"] == ["secrets"] for v in r["verbs"]}


def test_secrets_are_read_by_name_only_where_install_says() -> None:
    docs = install_manifests(namespace="ops", secret_namespaces=["team-a", "ops", "team-a"])
    # cluster-wide: the Job runner's per-run key Secret is created and deleted, never read,
    # and never patched (an empty patch answers with any Secret's data)
    assert _secret_verbs(_rules(docs, "ClusterRole")) == {"create", "delete"}
    roles = {d["metadata"]["namespace"]: d["rules"] for d in _by_kind(docs, "Role")}
    assert sorted(roles) == ["ops", "team-a"]  # deduplicated, the operator's own once
    assert {ns: _secret_verbs(rules) for ns, rules in roles.items()} == {
        "ops": {"get"},
        "team-a": {"get"},
    }
    bindings = {d["metadata"]["namespace"]: d for d in _by_kind(docs, "RoleBinding")}
    assert bindings["team-a"]["roleRef"]["name"] == "infraagent-operator"
    assert bindings["team-a"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "infraagent-operator", "namespace": "ops"}
    ]
    assert len(_by_kind(install_manifests(), "Role")) == 1
    with pytest.raises(ValueError, match="secret_namespaces"):
        install_manifests(secret_namespaces=["Team A"])


def test_only_the_lease_is_ever_replaced_and_only_by_name() -> None:
    docs = install_manifests()
    rules = _rules(docs, "ClusterRole") + _rules(docs, "Role")
    updates = [r for r in rules if "update" in r["verbs"]]
    assert updates == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "update"],
            "resourceNames": [LEASE_NAME],
        }
    ]


def test_the_operator_reads_no_workloads_and_writes_only_what_it_owns() -> None:
    rules = _rules(install_manifests(), "ClusterRole")
    granted = {
        (group, resource, verb)
        for r in rules
        for group in r["apiGroups"]
        for resource in r["resources"]
        for verb in r["verbs"]
    }
    for never in [("", "pods", "get"), ("apps", "deployments", "get"), ("", "nodes", "list"),
                  ("", "namespaces", "delete"), ("", "namespaces", "get"),
                  ("apiextensions.k8s.io", "customresourcedefinitions", "patch"),
                  ("", "secrets", "list"), ("", "secrets", "get"), ("batch", "jobs", "delete"),
                  ("", "users", "impersonate"), ("", "groups", "impersonate")]:  # fmt: skip
        assert never not in granted, never
    assert ("core.infraagent.io", "fleetsources", "patch") not in granted  # users own them
    assert ("core.infraagent.io", "fleetsources/status", "patch") in granted
    assert ("rbac.authorization.k8s.io", "clusterroles", "escalate") in granted
    assert ("rbac.authorization.k8s.io", "roles", "bind") in granted


def test_impersonation_is_limited_to_service_accounts() -> None:
    rules = [r for r in _rules(install_manifests(), "ClusterRole") if "impersonate" in r["verbs"]]
    assert rules == [
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}
    ]


def test_admission_writes_are_limited_to_the_data_protection_policy() -> None:
    for rule in _rules(install_manifests(), "ClusterRole"):
        if rule["apiGroups"] == ["admissionregistration.k8s.io"]:
            writes = set(rule["verbs"]) & {"update", "patch", "delete"}
            if writes:
                assert rule["resourceNames"] == [POLICY_NAME]


def test_deployment_is_hardened() -> None:
    (deployment,) = _by_kind(install_manifests(), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "infraagent-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert container["args"] == [
        "reconcile",
        "--in-cluster",
        "--operator-namespace",
        "infraagent-system",
    ]
    (service,) = _by_kind(install_manifests(), "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
