"""Everything a cluster needs to run InfraAgent, as plain manifests: ``install_manifests``.

Pure: builds dicts from the models and the admission policy, applies nothing (the
``install`` command does, with server-side apply). Order is fixed: the Namespace, the CRDs,
the operator's RBAC, the admission policy, then the workload.

**The operator's rights are exactly the API calls its code makes**: each rule in
``cluster_rules`` / ``namespace_rules`` names its callers, and the integration test
``test_operator_rbac.py`` runs those code paths with the operator's own token. Server-side
apply is a PATCH, and an apply that creates also needs ``create``; nothing uses PUT except
the Lease, so no rule grants ``update`` elsewhere. No rule has a ``*`` verb or resource.

Choices, each the narrowest RBAC can express, and what it cannot:

- **RBAC for agents and runs** (identity duty, Job runner): a Role or ClusterRole may be
  written only with rights the writer holds, or with ``escalate``; a binding only with
  ``bind`` on its role (or holding all its rights). Agents' rights come from their Action
  Sheets (writes on workloads anywhere), so holding them would make the operator a
  cluster-wide writer itself: it gets ``escalate`` and ``bind`` on roles and clusterroles
  instead. RBAC cannot limit these to the generated names (``infraagent-agent:…``, run
  names: unknown at install time, and ``create`` never takes ``resourceNames``). So this is
  the operator's most powerful right: it could write and bind a role granting anything.
  Its own code (``identity.py``) keeps agent roles narrow, and the admission policy still
  refuses agents' data mutations.
- **Impersonation**: ``impersonate`` on ``serviceaccounts`` only, never users, groups, UIDs
  or user extras (tool calls run as the agent's ServiceAccount). RBAC cannot limit it to the
  ``infraagent-agent-`` prefix, so any ServiceAccount could be impersonated.
- **Secrets, read**: ``get`` only (never list or watch), and only in the operator's own
  namespace (model-tier keys by default) and the ``secret_namespaces`` given at install:
  the namespaces of FleetSources with a ``secretRef`` or a webhook, of agents with a
  webhook trigger, and of ModelTierConfig keys kept elsewhere. RBAC cannot follow what
  those objects name at run time, so a Secret in a namespace not given is a 403 (a
  FleetSource there reports ``SecretUnreadable``).
- **Secrets, written** (Job runner: the per-run key Secret in the agent's namespace, applied
  then deleted): ``create``, ``patch`` and ``delete`` cluster-wide, since agents live in any
  namespace and the names are per run. Caveat RBAC cannot close: a PATCH answers with the
  object, so even an empty ``patch`` reads a Secret's data anywhere. A POST of an existing
  Secret is a 409 and a DELETE answers with a Status, so if the Job runner created the
  Secret once (owned by the Job) instead of applying it, ``create`` + ``delete`` would do.
- **Deleting roles, bindings, ServiceAccounts, ConfigMaps and definitions**: pruning finds
  its objects by label, which RBAC cannot express, so ``delete`` is not limited by name.
- **Admission**: the ValidatingAdmissionPolicy and binding named
  ``infraagent-data-protection`` may be patched and deleted by name only; ``create`` cannot
  be limited by name; reading them (get, list, watch) is harmless.
- **Leader election** (a Role in its namespace): ``get`` and ``update`` of its own Lease
  (named like the operator), ``create`` of Leases (not limitable by name).
- **Never**: Namespaces other than listing them, CRDs, Nodes, Pods, workloads other than
  creating and reading run Jobs, and anything else no code path calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from infraagent.admission import POLICY_NAME, admission_policy
from infraagent.models.common import API_GROUP
from infraagent.models.crd import all_crds

DEFAULT_NAMESPACE: Final = "infraagent-system"
DEFAULT_IMAGE: Final = "ghcr.io/infraagent/infraagent:latest"
OPERATOR_NAME: Final = "infraagent-operator"
LEASE_NAME: Final = OPERATOR_NAME
"""The leader-election Lease (``adapters.kube.lease.DEFAULT_LEASE_NAME``)."""
METRICS_PORT: Final = 8080
_RBAC_API: Final = "rbac.authorization.k8s.io/v1"
_RBAC: Final = "rbac.authorization.k8s.io"
_ADMISSION: Final = "admissionregistration.k8s.io"
_READ: Final = ("get", "list", "watch")
# What server-side apply of an object (GET, dry-run PATCH, PATCH that may create) and
# pruning by label (list, DELETE) need.
_APPLY_PRUNE: Final = ("get", "list", "create", "patch", "delete")
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def install_manifests(
    namespace: str = DEFAULT_NAMESPACE,
    image: str = DEFAULT_IMAGE,
    *,
    secret_namespaces: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The Namespace, CRDs, RBAC, admission policy, Deployment and metrics Service.

    ``secret_namespaces``: namespaces besides ``namespace`` where the operator may read
    Secrets by name (FleetSources' credentials, model-tier keys); see the module docstring.
    """
    if not _DNS_LABEL.match(namespace):
        raise ValueError(f"not a namespace name: {namespace!r}")
    if not image.strip() or any(c.isspace() for c in image):
        raise ValueError(f"not an image reference: {image!r}")
    extra = sorted(set(secret_namespaces) - {namespace})
    bad = [ns for ns in extra if not _DNS_LABEL.match(ns)]
    if bad:
        raise ValueError(f"not a namespace name in secret_namespaces: {', '.join(bad)}")
    namespace_doc = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": _labels("operator")},
    }
    return [
        namespace_doc,
        *all_crds().values(),
        *_rbac(namespace, extra),
        *admission_policy(),
        _deployment(namespace, image),
        _service(namespace),
    ]


def _labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "infraagent",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "infraagent",
    }


def _rule(
    groups: tuple[str, ...],
    resources: tuple[str, ...],
    verbs: tuple[str, ...],
    names: tuple[str, ...] = (),
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "apiGroups": list(groups),
        "resources": list(resources),
        "verbs": list(verbs),
    }
    if names:
        rule["resourceNames"] = list(names)
    return rule


def cluster_rules() -> list[dict[str, Any]]:
    """The operator's ClusterRole rules, each commented with the code that needs it."""
    policies = ("validatingadmissionpolicies", "validatingadmissionpolicybindings")
    rbac_kinds = ("roles", "rolebindings", "clusterroles", "clusterrolebindings")
    return [
        # reconciler: list + watch sources, get one (webhook); write their status
        _rule((API_GROUP,), ("fleetsources",), _READ),
        _rule((API_GROUP,), ("fleetsources/status",), ("patch",)),
        # reconciler: apply + prune definitions; scheduler: list/watch agents, clear run-now;
        # runs: read agent, environment, tiers
        _rule((API_GROUP,), ("infraagents",), (*_APPLY_PRUNE, "watch")),
        _rule((API_GROUP,), ("agentenvironments", "modeltierconfigs"), _APPLY_PRUNE),
        # runs: create (recorder, Job launcher), get (Job watch), list (interrupted,
        # summaries, retention), patch (summary mark), delete (retention)
        _rule((API_GROUP,), ("agentruns",), _APPLY_PRUNE),
        # scheduler: agent status; runs: AgentRun status (recorder, mark_interrupted)
        _rule((API_GROUP,), ("infraagents/status", "agentruns/status"), ("patch",)),
        # reconciler: skill ConfigMaps (apply + prune); runs and identity: read skills
        _rule(("",), ("configmaps",), _APPLY_PRUNE),
        # identity: agents' ServiceAccounts; tool calls run as them
        _rule(("",), ("serviceaccounts",), _APPLY_PRUNE),
        _rule(("",), ("serviceaccounts",), ("impersonate",)),
        # Job runner: the per-run key Secret (created owned by its Job, then deleted); never
        # read or patched here (an empty patch would return any Secret's data)
        _rule(("",), ("secrets",), ("create", "delete")),
        # identity: namespace globs of Action Sheets expand over the cluster's namespaces
        _rule(("",), ("namespaces",), ("list",)),
        # Job runner: create the run's Job suspended, resume it (patch), watch it (get);
        # new leader: job_alive
        _rule(("batch",), ("jobs",), ("get", "create", "patch")),
        # identity: agents' roles and bindings; Job runner: per-run access
        _rule((_RBAC,), rbac_kinds, _APPLY_PRUNE),
        _rule((_RBAC,), ("roles", "clusterroles"), ("bind", "escalate")),
        # leader: ensure_admission_policy (apply, or delete + apply after a foreign edit)
        _rule((_ADMISSION,), policies, (*_READ, "create")),
        _rule((_ADMISSION,), policies, ("patch", "delete"), (POLICY_NAME,)),
        # reconciler: one Event per outcome (events.k8s.io/v1 only)
        _rule(("events.k8s.io",), ("events",), ("create",)),
    ]


def namespace_rules() -> list[dict[str, Any]]:
    """The operator's Role rules in its own namespace."""
    return [
        # leader election: read and renew its Lease (PUT), create it the first time
        _rule(("coordination.k8s.io",), ("leases",), ("get", "update"), (LEASE_NAME,)),
        _rule(("coordination.k8s.io",), ("leases",), ("create",)),
        *secret_reader_rules(),
    ]


def secret_reader_rules() -> list[dict[str, Any]]:
    """Reading Secrets by name (model-tier keys, FleetSource credentials); never listing."""
    return [_rule(("",), ("secrets",), ("get",))]


def _rbac(namespace: str, secret_namespaces: list[str]) -> list[dict[str, Any]]:
    meta = {"name": OPERATOR_NAME, "labels": _labels("operator")}
    subject = {"kind": "ServiceAccount", "name": OPERATOR_NAME, "namespace": namespace}

    def role_ref(kind: str) -> dict[str, str]:
        return {"apiGroup": _RBAC, "kind": kind, "name": OPERATOR_NAME}

    def role_pair(where: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ns_meta = {**meta, "namespace": where}
        return [
            {"apiVersion": _RBAC_API, "kind": "Role", "metadata": dict(ns_meta), "rules": rules},
            {"apiVersion": _RBAC_API, "kind": "RoleBinding", "metadata": dict(ns_meta),
             "roleRef": role_ref("Role"), "subjects": [subject]},
        ]  # fmt: skip

    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {**meta, "namespace": namespace}},
        {"apiVersion": _RBAC_API, "kind": "ClusterRole", "metadata": dict(meta),
         "rules": cluster_rules()},
        {"apiVersion": _RBAC_API, "kind": "ClusterRoleBinding", "metadata": dict(meta),
         "roleRef": role_ref("ClusterRole"), "subjects": [subject]},
        *role_pair(namespace, namespace_rules()),
    ]  # fmt: skip
    for extra in secret_namespaces:
        docs += role_pair(extra, secret_reader_rules())
    return docs


def _container(image: str, namespace: str) -> dict[str, Any]:
    # The main job, serving: the cluster's FleetSources, agents on their schedules, run
    # summaries committed back; the Lease in this namespace keeps one leader among replicas.
    return {
        "name": "operator",
        "image": image,
        "args": ["reconcile", "--in-cluster", "--operator-namespace", namespace],
        # the root file system is read-only: Git caches and clones live in the /tmp volume
        "env": [{"name": "INFRAAGENT_CACHE", "value": "/tmp/infraagent"}],  # noqa: S108
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }


def _deployment(namespace: str, image: str) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": "infraagent", "app.kubernetes.io/component": "operator"}
    pod_security = {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": OPERATOR_NAME, "namespace": namespace, "labels": _labels("operator")},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": _labels("operator")},
                "spec": {
                    "serviceAccountName": OPERATOR_NAME,
                    "securityContext": pod_security,
                    "containers": [_container(image, namespace)],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def _service(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{OPERATOR_NAME}-metrics", "namespace": namespace,
                     "labels": _labels("metrics")},
        "spec": {
            "selector": {"app.kubernetes.io/name": "infraagent",
                         "app.kubernetes.io/component": "operator"},
            "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics",
                       "protocol": "TCP"}],
        },
    }  # fmt: skip
