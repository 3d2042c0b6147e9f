"""The engine's decision table: one case per rule, on canonical requests built by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infraagent.guardrails.engine import evaluate
from infraagent.guardrails.policy import Policy, build_policy
from infraagent.guardrails.verdict import CooldownState
from infraagent.models import ActionSheet, AgentEnvironment, InfraAgent
from infraagent.models.agentrun import Decision, Tier
from infraagent.models.requests import CanonicalRequest, HttpRequest, KubeRequest, McpCall

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
GV = "core.infraagent.io/v1alpha1"

MUTATING = ["create", "update", "patch", "delete", "deletecollection"]
SHEET = {
    "actions": [
        {"id": "restart", "description": "restart", "tier": "service-mutation",
         "kube": {"verbs": ["patch"], "resources": ["deployments.apps"], "namespaces": ["shop"]},
         "cooldown": "10m"},
        {"id": "scale", "description": "scale", "tier": "destructive-mutation",
         "kube": {"verbs": ["patch"], "resources": ["deployments.apps/scale"],
                  "namespaces": ["shop"]}},
        {"id": "kill-pod", "description": "delete pods", "tier": "destructive-mutation",
         "kube": {"verbs": ["delete", "deletecollection"], "resources": ["pods"],
                  "namespaces": ["shop"]}},
        {"id": "label-pods", "description": "label pods", "tier": "service-mutation",
         "kube": {"verbs": ["patch"], "resources": ["pods"], "namespaces": ["shop"]}},
        {"id": "read-tls", "description": "read tls secrets", "tier": "read",
         "kube": {"verbs": ["get"], "resources": ["secrets"], "namespaces": ["shop"],
                  "names": ["tls-*"]}},
        {"id": "status", "description": "status page", "tier": "service-mutation",
         "http": {"methods": ["GET", "POST"], "urls": ["https://status.example.com/*"]}},
        {"id": "storage", "description": "object storage", "tier": "destructive-mutation",
         "http": {"methods": ["*"], "urls": ["http://minio.storage:9000/*"]}},
        {"id": "analyze", "description": "k8sgpt", "tier": "read",
         "mcp": {"server": "k8sgpt", "tools": ["analyze"]}},
        {"id": "anything", "description": "everything else", "tier": "destructive-mutation",
         "kube": {"verbs": MUTATING, "resources": ["*"], "namespaces": ["*"]}},
        {"id": "anything-cluster", "description": "cluster-scoped", "tier": "destructive-mutation",
         "kube": {"verbs": MUTATING, "resources": ["*"]}},
    ]
}  # fmt: skip

ENVIRONMENT = {
    "apiVersion": GV,
    "kind": "AgentEnvironment",
    "metadata": {"name": "lab"},
    "spec": {
        "endpoints": {
            "status": {"url": "https://status.example.com"},
            "minio": {"url": "http://minio.storage:9000", "kind": "object-storage"},
        },
        "dataResources": {
            "databases": [{"kind": "clusters.postgresql.cnpg.io", "namespace": "shop",
                           "name": "shop-db"}],
            "persistentStorage": [{"kind": "pvc", "namespace": "shop", "name": "data-0"}],
        },
    },
}  # fmt: skip


def make_policy(autonomy: str = "automate-destructive", **guardrails: Any) -> Policy:
    agent = InfraAgent.model_validate(
        {
            "apiVersion": GV,
            "kind": "InfraAgent",
            "metadata": {"name": "tester"},
            "spec": {
                "description": "test",
                "schedule": {"interval": "5m"},
                "model": {},
                "skills": [{"name": "ops"}],
                "guardrails": {"autonomy": autonomy, **guardrails},
                "environmentRef": "lab",
            },
        }
    )
    return build_policy(
        agent,
        AgentEnvironment.model_validate(ENVIRONMENT),
        {"ops": ActionSheet.model_validate(SHEET)},
    )


def kube(verb: str, resource: str, name: str | None = None, **fields: Any) -> KubeRequest:
    fields.setdefault("namespace", "shop")
    return KubeRequest(verb=verb, resource=resource, name=name, **fields)


def http(method: str, url: str, body: str | None = None) -> HttpRequest:
    scheme, rest = url.split("://")
    host_port, _, path = rest.partition("/")
    host, _, port = host_port.partition(":")
    default = 443 if scheme == "https" else 80
    return HttpRequest(method, scheme, host, int(port or default), "/" + path, body=body)


@dataclass
class Case:
    name: str
    requests: list[CanonicalRequest]
    decision: Decision
    tier: Tier | None
    rule: str
    autonomy: str = "automate-destructive"


REPLICAS_0 = {"spec": {"replicas": 0}}
PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "x"},
    "spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]},
}

CASES = [
    Case("read pods", [kube("list", "pods")], Decision.ALLOW, Tier.READ, "allow/read"),
    Case("read unknown kind", [kube("get", "widgets.example.com", "w")], Decision.ALLOW, Tier.READ, "allow/read"),
    Case("undeclared secret read", [kube("get", "secret", "db-password")], Decision.DENY, Tier.READ, "sheet/secret-read"),
    Case("declared secret read", [kube("get", "secrets", "tls-web")], Decision.ALLOW, Tier.READ, "allow/action"),
    Case("pvc delete", [kube("delete", "pvc", "data-1")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/pvc-delete"),
    Case("pvc collection", [kube("deletecollection", "PersistentVolumeClaims.v1.", options=frozenset({"all"}))], Decision.DENY, Tier.DATA_MUTATION, "data-protection/pvc-delete"),
    Case("pv delete", [kube("delete", "pv", "pv-1", namespace=None)], Decision.DENY, Tier.DATA_MUTATION, "data-protection/pv-delete"),
    Case("namespace delete", [kube("delete", "ns", "shop", namespace=None)], Decision.DENY, Tier.DATA_MUTATION, "data-protection/namespace-delete"),
    Case("secret delete", [kube("delete", "Secret", "s")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/secret-delete"),
    Case("secret overwrite", [kube("patch", "secrets", "s", body={"data": {"k": "eA=="}})], Decision.DENY, Tier.DATA_MUTATION, "data-protection/secret-delete"),
    Case("velero backup delete", [kube("delete", "backups.velero.io", "nightly", namespace="velero")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/data-operator-delete"),
    Case("ambiguous backup", [kube("delete", "backup", "nightly")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/data-operator-delete"),
    Case("snapshot delete", [kube("delete", "volumesnapshots", "s")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/snapshot-delete"),
    Case("reclaim policy", [kube("patch", "pv", "pv-1", namespace=None, patch_type="merge", body={"spec": {"persistentVolumeReclaimPolicy": "Delete"}})], Decision.DENY, Tier.DATA_MUTATION, "data-protection/reclaim-policy"),
    Case("reclaim policy json", [kube("patch", "persistentvolumes", "pv-1", namespace=None, patch_type="json", body=[{"op": "replace", "path": "/spec/persistentVolumeReclaimPolicy", "value": "Delete"}])], Decision.DENY, Tier.DATA_MUTATION, "data-protection/reclaim-policy"),
    Case("finalizers removed", [kube("patch", "pvc", "data-1", patch_type="json", body=[{"op": "remove", "path": "/metadata/finalizers"}])], Decision.DENY, Tier.DATA_MUTATION, "data-protection/finalizers"),
    Case("finalizers emptied", [kube("patch", "pvc", "data-1", patch_type="merge", body={"metadata": {"finalizers": []}})], Decision.DENY, Tier.DATA_MUTATION, "data-protection/finalizers"),
    Case("finalizers kept", [kube("patch", "pvc", "data-1", patch_type="merge", body={"metadata": {"finalizers": ["kubernetes.io/pvc-protection", "x"]}})], Decision.ALLOW, Tier.SERVICE_MUTATION, "allow/action"),
    Case("pvc replaced without finalizers", [kube("update", "pvc", "data-1", body={"metadata": {"name": "data-1"}})], Decision.DENY, Tier.DATA_MUTATION, "data-protection/finalizers"),
    Case("statefulset delete", [kube("delete", "sts", "db")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/statefulset-claims"),
    Case("statefulset orphan delete", [kube("delete", "sts", "db", options=frozenset({"cascade=orphan"}))], Decision.ALLOW, Tier.DESTRUCTIVE_MUTATION, "allow/action"),
    Case("declared database", [kube("patch", "clusters.postgresql.cnpg.io", "shop-db", body={"spec": {"instances": 3}})], Decision.DENY, Tier.DATA_MUTATION, "data-protection/declared-resource"),
    Case("declared pvc by label --all", [kube("patch", "pvc", None, body={"metadata": {"labels": {"a": "b"}}}, options=frozenset({"all"}))], Decision.DENY, Tier.DATA_MUTATION, "data-protection/declared-resource"),
    Case("undeclared cnpg cluster in other ns", [kube("patch", "clusters.postgresql.cnpg.io", "x", namespace="other", body={"metadata": {"labels": {"a": "b"}}})], Decision.ALLOW, Tier.SERVICE_MUTATION, "allow/action"),
    Case("scale to zero", [kube("patch", "deployments.apps", "web", subresource="scale", body=REPLICAS_0)], Decision.ALLOW, Tier.DESTRUCTIVE_MUTATION, "allow/action"),
    Case("scale to three", [kube("patch", "deploy", "web", subresource="scale", body={"spec": {"replicas": 3}})], Decision.ALLOW, Tier.SERVICE_MUTATION, "allow/action"),
    Case("rbac", [kube("patch", "clusterrolebindings", "admin", namespace=None, body={})], Decision.DENY, Tier.SERVICE_MUTATION, "self-protection/rbac"),
    Case("token", [kube("create", "serviceaccounts", "default", subresource="token")], Decision.DENY, Tier.SERVICE_MUTATION, "self-protection/credentials"),
    Case("csr", [kube("create", "csr", None, namespace=None, body={})], Decision.DENY, Tier.DESTRUCTIVE_MUTATION, "self-protection/credentials"),
    Case("own autonomy", [kube("patch", "ia", "tester", body={"spec": {"guardrails": {"autonomy": "automate-destructive"}}})], Decision.DENY, Tier.SERVICE_MUTATION, "self-protection/infraagent"),
    Case("audit trail", [kube("deletecollection", "agentruns", options=frozenset({"all"}))], Decision.DENY, Tier.DESTRUCTIVE_MUTATION, "self-protection/infraagent"),
    Case("webhooks", [kube("delete", "validatingwebhookconfigurations", "x", namespace=None)], Decision.DENY, Tier.DESTRUCTIVE_MUTATION, "self-protection/admission"),
    Case("crd", [kube("delete", "crd", "x", namespace=None)], Decision.DENY, Tier.DESTRUCTIVE_MUTATION, "self-protection/crd"),
    Case("operator namespace", [kube("create", "configmaps", body={"metadata": {"name": "x"}}, namespace="infraagent-system")], Decision.DENY, Tier.SERVICE_MUTATION, "self-protection/operator-namespace"),
    Case("all namespaces", [kube("deletecollection", "pods", all_namespaces=True, namespace=None, options=frozenset({"all"}))], Decision.DENY, Tier.DESTRUCTIVE_MUTATION, "self-protection/operator-namespace"),
    Case("privileged pod", [kube("create", "pods", body=PRIVILEGED_POD)], Decision.DENY, Tier.SERVICE_MUTATION, "node-escape/privileged"),
    Case("host network", [kube("patch", "deployments.apps", "web", patch_type="apply", body={"spec": {"template": {"spec": {"hostNetwork": True}}}})], Decision.DENY, Tier.SERVICE_MUTATION, "node-escape/host-namespace"),
    Case("host path by json patch", [kube("patch", "daemonsets", "d", patch_type="json", body=[{"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "root", "hostPath": {"path": "/"}}}])], Decision.DENY, Tier.SERVICE_MUTATION, "node-escape/host-path"),
    Case("capabilities", [kube("patch", "deployments", "web", patch_type="json", body=[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/capabilities/add", "value": ["SYS_ADMIN"]}])], Decision.DENY, Tier.SERVICE_MUTATION, "node-escape/capabilities"),
    Case("borrowed service account", [kube("patch", "deployments", "web", body={"spec": {"template": {"spec": {"serviceAccountName": "admin"}}}})], Decision.DENY, Tier.SERVICE_MUTATION, "self-protection/credentials"),
    Case("unknown kind mutation", [kube("delete", "widgets.example.com", "w")], Decision.DENY, None, "resolve/unknown-resource"),
    Case("dry run", [kube("delete", "pvc", "data-1", dry_run=True)], Decision.ALLOW, Tier.READ, "allow/action"),
    Case("dry run at observe", [kube("delete", "configmaps", "c", dry_run=True)], Decision.ALLOW, Tier.READ, "allow/action", "observe"),
    Case("observe", [kube("patch", "deployments.apps", "web", body={})], Decision.DENY, Tier.SERVICE_MUTATION, "autonomy/observe", "observe"),
    Case("recommend", [kube("patch", "deployments.apps", "web", body={})], Decision.PROPOSE, Tier.SERVICE_MUTATION, "autonomy/recommend", "recommend"),
    Case("recommend destructive", [kube("delete", "pods", "web-1")], Decision.PROPOSE, Tier.DESTRUCTIVE_MUTATION, "autonomy/recommend", "recommend"),
    Case("safe service", [kube("patch", "deployments.apps", "web", body={})], Decision.ALLOW, Tier.SERVICE_MUTATION, "allow/action", "automate-safe"),
    Case("safe destructive", [kube("delete", "pods", "web-1")], Decision.PROPOSE, Tier.DESTRUCTIVE_MUTATION, "autonomy/automate-safe", "automate-safe"),
    Case("data at any autonomy", [kube("delete", "pvc", "x")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/pvc-delete", "observe"),
    Case("strictest of several", [kube("delete", "pods", "a"), kube("delete", "pvc", "b")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/pvc-delete"),
    Case("http declared get", [http("GET", "https://status.example.com/health")], Decision.ALLOW, Tier.READ, "allow/action"),
    Case("http declared post", [http("POST", "https://status.example.com/incidents")], Decision.ALLOW, Tier.SERVICE_MUTATION, "allow/action"),
    Case("http undeclared get", [http("GET", "https://elsewhere.example.com/")], Decision.DENY, Tier.READ, "sheet/undeclared"),
    Case("http object storage", [http("PUT", "http://minio.storage:9000/backups/x")], Decision.DENY, Tier.DATA_MUTATION, "data-protection/object-storage"),
    Case("http sql", [http("POST", "https://status.example.com/q", '{"q": "DROP TABLE users"}')], Decision.DENY, Tier.DATA_MUTATION, "data-protection/sql"),
    Case("http metadata", [http("GET", "http://169.254.169.254/latest/meta-data/")], Decision.DENY, Tier.READ, "http/metadata-endpoint"),
    Case("http apiserver", [http("DELETE", "https://kubernetes.default.svc/api/v1/namespaces/shop")], Decision.DENY, Tier.DESTRUCTIVE_MUTATION, "http/kube-apiserver"),
    Case("mcp declared", [McpCall("k8sgpt", "analyze")], Decision.ALLOW, Tier.READ, "allow/action"),
    Case("mcp undeclared", [McpCall("k8sgpt", "fix")], Decision.DENY, None, "sheet/undeclared"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_decision_table(case: Case) -> None:
    verdict = evaluate(case.requests, make_policy(case.autonomy), CooldownState(), NOW)
    assert (verdict.decision, verdict.tier, verdict.rule) == (
        case.decision,
        case.tier,
        case.rule,
    ), verdict.reason
    assert verdict.requests == tuple(case.requests)
    assert verdict.escalate == (verdict.tier is Tier.DATA_MUTATION)


def test_tier_ceiling_of_the_matched_action() -> None:
    sheet = {"actions": [SHEET["actions"][3]]}  # label-pods: patch pods, service-mutation
    policy = build_policy(
        InfraAgent.model_validate(
            {
                "apiVersion": GV,
                "kind": "InfraAgent",
                "metadata": {"name": "t"},
                "spec": {
                    "description": "t",
                    "schedule": {"interval": "5m"},
                    "model": {},
                    "skills": [{"name": "ops"}],
                    "guardrails": {"autonomy": "automate-destructive"},
                    "environmentRef": "lab",
                },
            }
        ),
        None,
        {"ops": ActionSheet.model_validate(sheet)},
    )
    zero = kube("patch", "pods", "p", body={"spec": {"replicas": 0}})
    verdict = evaluate([zero], policy, CooldownState(), NOW)
    assert (verdict.decision, verdict.rule) == (Decision.DENY, "sheet/tier-ceiling")
    undeclared = evaluate([kube("delete", "configmaps", "c")], policy, CooldownState(), NOW)
    assert undeclared.rule == "sheet/undeclared"


def test_allow_and_deny_lists() -> None:
    restart = kube("patch", "deployments.apps", "web", body={})
    denied = make_policy(deniedActions=["ops/restart"])
    verdict = evaluate([restart], denied, CooldownState(), NOW)
    # the catch-all action still permits it: deny lists name actions, not requests
    assert (verdict.decision, verdict.action) == (Decision.ALLOW, "ops/anything")
    only_restart = make_policy(allowedActions=["ops/restart"], deniedActions=["ops/restart"])
    verdict = evaluate([restart], only_restart, CooldownState(), NOW)
    assert (verdict.decision, verdict.rule) == (Decision.DENY, "agent/denied-action")
    verdict = evaluate([kube("delete", "pods", "p")], only_restart, CooldownState(), NOW)
    assert (verdict.decision, verdict.rule) == (Decision.DENY, "agent/not-allowed")


def test_cooldown_is_per_action_and_expires() -> None:
    policy = make_policy(allowedActions=["ops/restart"])
    restart = kube("patch", "deployments.apps", "web", body={})
    recent = CooldownState().used("ops/restart", NOW - timedelta(minutes=3))
    verdict = evaluate([restart], policy, recent, NOW)
    assert (verdict.decision, verdict.rule, verdict.action) == (
        Decision.DENY,
        "cooldown/active",
        "ops/restart",
    )
    old = CooldownState().used("ops/restart", NOW - timedelta(minutes=11))
    assert evaluate([restart], policy, old, NOW).decision is Decision.ALLOW
    other = CooldownState().used("ops/scale", NOW)
    assert evaluate([restart], policy, other, NOW).decision is Decision.ALLOW


def test_any_exception_inside_is_a_deny() -> None:
    broken: Any = object()
    verdict = evaluate([broken], make_policy(), CooldownState(), NOW)
    assert (verdict.decision, verdict.rule) == (Decision.DENY, "engine/internal-error")
    assert evaluate([], make_policy(), CooldownState(), NOW).decision is Decision.DENY


def test_engine_is_deterministic() -> None:
    policy = make_policy("automate-safe")
    calls = [case.requests for case in CASES]
    first = [evaluate(r, policy, CooldownState(), NOW) for r in calls]
    second = [evaluate(r, policy, CooldownState(), NOW) for r in reversed(calls)]
    assert first == list(reversed(second))
