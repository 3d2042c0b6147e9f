"""Per-agent identity: the RBAC generated from Action Sheets, and the rules it never breaks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infraagent.guardrails.resources import DATA_KINDS
from infraagent.identity import FORBIDDEN_GROUPS, agent_rbac, service_account_name
from infraagent.models.agent import InfraAgent
from infraagent.models.skill import KUBE_VERBS, ActionSheet

GV = "core.infraagent.io/v1alpha1"
OPERATOR_NS = "infraagent-system"
CLUSTER_NAMESPACES = ("agents", "default", "shop", "web-a", "web-b", OPERATOR_NS)


def agent(skills: tuple[str, ...] = ("ops",), **guardrails: Any) -> InfraAgent:
    return InfraAgent.model_validate(
        {
            "apiVersion": GV,
            "kind": "InfraAgent",
            "metadata": {"name": "tester", "namespace": "agents"},
            "spec": {
                "description": "Keeps the shop running",
                "schedule": {"interval": "5m"},
                "model": {"tier": "fast"},
                "skills": [{"name": s} for s in skills],
                "guardrails": {"autonomy": "automate-safe", **guardrails},
                "environmentRef": "lab",
            },
        }
    )


def sheet(*actions: dict[str, Any]) -> ActionSheet:
    return ActionSheet.model_validate(
        {
            "actions": [
                {"id": f"a{i}", "description": "d", "tier": "service-mutation", **a}
                for i, a in enumerate(actions)
            ]
        }
    )


def kube(tier: str = "service-mutation", **matcher: Any) -> dict[str, Any]:
    return {"tier": tier, "kube": matcher}


def by_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def role_in(manifests: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    (role,) = [m for m in by_kind(manifests, "Role") if m["metadata"]["namespace"] == namespace]
    return role


def write_rules(manifests: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    """Every rule except the read ClusterRole's, with the namespace it applies in."""
    return [
        (m["metadata"].get("namespace"), rule)
        for m in manifests
        if m["kind"] in ("Role", "ClusterRole") and not m["metadata"]["name"].endswith(":read")
        for rule in m["rules"]
    ]


RESTART = kube(verbs=["patch"], resources=["deployments.apps"], namespaces=["shop"])


def test_service_account_and_bindings_name_the_agent() -> None:
    out = agent_rbac(agent(), {"ops": sheet(RESTART)})
    (account,) = by_kind(out, "ServiceAccount")
    assert account["metadata"] == {
        "name": "infraagent-agent-tester",
        "namespace": "agents",
        "labels": {
            "app.kubernetes.io/managed-by": "infraagent",
            "infraagent.io/agent": "tester",
            "infraagent.io/agent-namespace": "agents",
        },
    }
    assert service_account_name("tester") == "infraagent-agent-tester"
    subjects = [m["subjects"] for m in out if m["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert subjects and all(
        s == [{"kind": "ServiceAccount", "name": "infraagent-agent-tester", "namespace": "agents"}]
        for s in subjects
    )
    for m in out:
        assert m["metadata"]["labels"]["infraagent.io/agent"] == "tester"
    binding = by_kind(out, "RoleBinding")[0]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "infraagent-agent:agents:tester",
    }


def test_one_patch_action_is_one_rule_in_one_namespace() -> None:
    out = agent_rbac(agent(), {"ops": sheet(RESTART)})
    assert [m["metadata"]["namespace"] for m in by_kind(out, "Role")] == ["shop"]
    assert role_in(out, "shop")["rules"] == [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}
    ]
    assert [m["metadata"]["name"] for m in by_kind(out, "ClusterRole")] == [
        "infraagent-agent:agents:tester:read"
    ]


def test_subresources_names_and_cluster_scope() -> None:
    actions = sheet(
        kube("read", verbs=["get"], resources=["pods/log"], namespaces=["shop"]),
        kube(
            verbs=["get", "patch", "create"],
            resources=["deployments.apps/scale", "configmaps"],
            namespaces=["shop", "default"],
            names=["web", "api"],
        ),
        kube(verbs=["patch"], resources=["nodes"]),
    )
    out = agent_rbac(agent(), {"ops": actions})
    assert role_in(out, "shop")["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "patch"],
            "resourceNames": ["api", "web"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["create"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments/scale"],
            "verbs": ["get", "patch"],
            "resourceNames": ["api", "web"],
        },
    ]
    assert "pods/log" not in json.dumps(role_in(out, "default"))
    (cluster,) = [
        m for m in by_kind(out, "ClusterRole") if m["metadata"]["name"].endswith(":cluster")
    ]
    assert cluster["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]}]


def test_verbs_are_cut_to_the_tier() -> None:
    actions = sheet(
        kube("read", verbs=["*"], resources=["configmaps"], namespaces=["shop"]),
        kube(verbs=["*"], resources=["deployments.apps"], namespaces=["shop"]),
        kube("destructive-mutation", verbs=["*"], resources=["jobs.batch"], namespaces=["shop"]),
    )
    rules = {
        r["resources"][0]: r["verbs"]
        for r in role_in(agent_rbac(agent(), {"ops": actions}), "shop")["rules"]
    }
    assert rules["configmaps"] == ["get", "list", "watch"]
    assert rules["deployments"] == ["get", "list", "watch", "create", "update", "patch"]
    assert rules["jobs"] == list(KUBE_VERBS)


def test_allowed_and_denied_actions_filter_the_sheet() -> None:
    actions = sheet(RESTART, kube(verbs=["patch"], resources=["services"], namespaces=["shop"]))
    out = agent_rbac(agent(deniedActions=["ops/a1"]), {"ops": actions})
    assert "services" not in json.dumps(role_in(out, "shop"))
    out = agent_rbac(agent(allowedActions=["ops/a1"]), {"ops": actions})
    assert "deployments" not in json.dumps(role_in(out, "shop"))
    assert by_kind(agent_rbac(agent(("other",)), {"ops": actions}), "Role") == []


def test_namespace_globs_need_the_cluster_namespaces() -> None:
    actions = sheet(kube(verbs=["patch"], resources=["deployments.apps"], namespaces=["web-*"]))
    with pytest.raises(ValueError, match="namespace glob 'web-\\*'"):
        agent_rbac(agent(), {"ops": actions})
    out = agent_rbac(agent(), {"ops": actions}, namespaces=CLUSTER_NAMESPACES)
    assert [m["metadata"]["namespace"] for m in by_kind(out, "Role")] == ["web-a", "web-b"]
    assert [m["metadata"]["namespace"] for m in by_kind(out, "RoleBinding")] == ["web-a", "web-b"]


def test_star_namespace_never_reaches_the_operator_namespace() -> None:
    actions = sheet(
        kube(verbs=["patch"], resources=["deployments.apps"], namespaces=["*", OPERATOR_NS])
    )
    out = agent_rbac(agent(), {"ops": actions}, namespaces=CLUSTER_NAMESPACES)
    spaces = [m["metadata"]["namespace"] for m in by_kind(out, "Role")]
    assert spaces == sorted(set(CLUSTER_NAMESPACES) - {OPERATOR_NS})
    out = agent_rbac(agent(), {"ops": actions}, namespaces=(), operator_namespace="ops")
    assert [m["metadata"]["namespace"] for m in by_kind(out, "Role")] == [OPERATOR_NS]


def test_unknown_resources() -> None:
    custom = sheet(kube(verbs=["patch"], resources=["widgets.example.com"], namespaces=["shop"]))
    assert role_in(agent_rbac(agent(), {"ops": custom}), "shop")["rules"] == [
        {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["patch"]}
    ]
    bare = sheet(kube(verbs=["patch"], resources=["widgets"], namespaces=["shop"]))
    with pytest.raises(ValueError, match="unknown"):
        agent_rbac(agent(), {"ops": bare})


def test_data_kinds_secrets_and_operator_namespace_writes_are_dropped() -> None:
    actions = sheet(
        kube(
            "destructive-mutation",
            verbs=["delete", "deletecollection", "patch", "update", "get"],
            resources=["persistentvolumeclaims", "secrets", "clusters.postgresql.cnpg.io"],
            namespaces=["shop"],
        ),
        kube(
            "destructive-mutation",
            verbs=["*"],
            resources=["namespaces"],
            names=["shop", OPERATOR_NS],
        ),
        kube("destructive-mutation", verbs=["*"], resources=["persistentvolumes"]),
    )
    out = agent_rbac(agent(), {"ops": actions})
    rules = {r["resources"][0]: r["verbs"] for r in role_in(out, "shop")["rules"]}
    assert rules == {
        "persistentvolumeclaims": ["get", "update", "patch"],
        "secrets": ["get"],
        "clusters": ["get", "update", "patch"],
    }
    (cluster,) = [
        m for m in by_kind(out, "ClusterRole") if m["metadata"]["name"].endswith(":cluster")
    ]
    assert cluster["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "verbs": ["get", "list", "watch"],
            "resourceNames": [OPERATOR_NS, "shop"],
        },
        {
            "apiGroups": [""],
            "resources": ["persistentvolumes"],
            "verbs": ["get", "list", "watch", "create", "update", "patch"],
        },
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "verbs": ["update", "patch"],
            "resourceNames": ["shop"],
        },
    ]


def test_read_role_never_includes_secrets_or_forbidden_groups() -> None:
    out = agent_rbac(agent(), {"ops": sheet(RESTART)})
    (read,) = [m for m in by_kind(out, "ClusterRole") if m["metadata"]["name"].endswith(":read")]
    groups = {g for rule in read["rules"] for g in rule["apiGroups"]}
    assert {"", "apps", "batch", "metrics.k8s.io", "networking.k8s.io", "policy"} <= groups
    assert not groups & FORBIDDEN_GROUPS
    core = {r for rule in read["rules"] if rule["apiGroups"] == [""] for r in rule["resources"]}
    assert {"pods", "pods/log", "nodes", "namespaces", "events", "configmaps"} <= core
    assert "secrets" not in core
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in read["rules"])


STAR = kube("destructive-mutation", verbs=["*"], resources=["*"], namespaces=["*"])
_NEVER_SUBRESOURCES = {"token", "finalize", "exec", "attach", "portforward", "proxy"}


@pytest.mark.parametrize(
    "actions",
    [
        [STAR],
        [STAR, kube("destructive-mutation", verbs=["*"], resources=["*"])],
        [
            kube(
                "destructive-mutation",
                verbs=["*"],
                resources=[
                    "roles.rbac.authorization.k8s.io",
                    "customresourcedefinitions.apiextensions.k8s.io",
                    "validatingadmissionpolicies.admissionregistration.k8s.io",
                    "infraagents.core.infraagent.io",
                    "certificatesigningrequests.certificates.k8s.io",
                    "serviceaccounts/token",
                    "namespaces/finalize",
                    "volumesnapshots.snapshot.storage.k8s.io",
                    "deletebackuprequests.velero.io",
                ],
                namespaces=["*"],
            )
        ],
    ],
)
def test_never_rules_hold_for_everything_declared(actions: list[dict[str, Any]]) -> None:
    out = agent_rbac(agent(), {"ops": sheet(*actions)}, namespaces=CLUSTER_NAMESPACES)
    assert all(m["metadata"].get("namespace") != OPERATOR_NS for m in out)
    rules = write_rules(out)
    assert rules, "a star sheet still grants something"
    for namespace, rule in rules:
        (group,) = rule["apiGroups"]
        assert group not in FORBIDDEN_GROUPS, rule
        assert namespace != OPERATOR_NS
        for resource in rule["resources"]:
            base, _, sub = resource.partition("/")
            assert sub not in _NEVER_SUBRESOURCES, rule
            if (group, base) in DATA_KINDS:
                assert not {"delete", "deletecollection"} & set(rule["verbs"]), rule
            if (group, base) == ("", "secrets"):
                assert not {"update", "patch"} & set(rule["verbs"]), rule
            if (group, base) == ("", "namespaces") and set(rule["verbs"]) - {
                "get",
                "list",
                "watch",
            }:
                assert OPERATOR_NS not in rule.get("resourceNames", [OPERATOR_NS]), rule
            if (group, base) == ("velero.io", "deletebackuprequests"):
                assert "create" not in rule["verbs"], rule


def test_star_sheet_still_grants_what_it_may() -> None:
    out = agent_rbac(agent(), {"ops": sheet(STAR)}, namespaces=CLUSTER_NAMESPACES)
    rules = role_in(out, "shop")["rules"]
    deployments = [
        r for r in rules if r["apiGroups"] == ["apps"] and "deployments" in r["resources"]
    ]
    assert deployments and deployments[0]["verbs"] == list(KUBE_VERBS)
    pvc = [r for r in rules if "persistentvolumeclaims" in r["resources"]]
    assert pvc and pvc[0]["verbs"] == ["get", "list", "watch", "create", "update", "patch"]


def test_output_is_deterministic() -> None:
    actions = [
        STAR,
        RESTART,
        kube(
            verbs=["patch", "get"], resources=["services", "pods"], namespaces=["default", "shop"]
        ),
    ]
    first = agent_rbac(agent(), {"ops": sheet(*actions)}, namespaces=CLUSTER_NAMESPACES)
    again = agent_rbac(
        agent(), {"ops": sheet(*reversed(actions))}, namespaces=tuple(reversed(CLUSTER_NAMESPACES))
    )
    assert json.dumps(first) == json.dumps(again)
    kinds = [m["kind"] for m in first]
    assert kinds == sorted(
        kinds,
        key=["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].index,
    )


def test_agent_without_namespace_is_refused() -> None:
    nameless = agent().model_copy(
        update={"metadata": agent().metadata.model_copy(update={"namespace": None})}
    )
    with pytest.raises(ValueError, match="namespace"):
        agent_rbac(nameless, {})
