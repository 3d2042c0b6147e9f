"""Everything a cluster needs to run InfraAgent, as plain manifests: ``install_manifests``.

Pure: builds dicts from the models and the admission policy, applies nothing (the
``install`` command does, with server-side apply). Order is fixed: the Namespace, the CRDs,
the operator's RBAC, the admission policy, then the workload.

Least-privilege choices, each the narrowest RBAC can express:

- **RBAC for agents**: the operator writes each agent's Role/ClusterRole from its Action
  Sheets. RBAC lets a subject create a role only with rights it holds itself, or with
  ``escalate``; and bind one only with ``bind``. Holding every right an agent might get
  would make the operator a cluster-wide writer of workloads, so it gets ``escalate`` and
  ``bind`` on roles and clusterroles instead. RBAC cannot restrict those to the generated
  names (unknown in advance, and ``create`` cannot take ``resourceNames``), so this is the
  operator's most powerful right: its own code (``identity.py``) is what keeps agent roles
  narrow, and the admission policy still refuses agents' data mutations.
- **Impersonation**: ``impersonate`` on ``serviceaccounts`` only — never users, groups,
  UIDs or user extras. RBAC cannot limit it to the ``infraagent-agent-`` name prefix
  (only to listed ``resourceNames``, which are not known at install time), so the operator
  could impersonate any ServiceAccount; it only ever impersonates agent identities.
- **Admission**: the ValidatingAdmissionPolicy and binding named
  ``infraagent-data-protection`` may be updated and deleted by name; ``create`` cannot be
  limited by name in RBAC.
- **Its own namespace only** (a Role): Leases (leader election), ConfigMaps, and reads of
  Secrets (the model providers' API keys live there).
- **Cluster-wide**: InfraAgent's own resources and their status (AgentRuns created),
  ServiceAccounts, Events, and get/list/watch of what agents read — never Secrets.
  No rule grants ``*`` verbs on ``*`` resources.
"""

from __future__ import annotations

import re
from typing import Any, Final

from infraagent.admission import POLICY_NAME, admission_policy
from infraagent.models.common import API_GROUP
from infraagent.models.crd import KIND_SPECS, all_crds

DEFAULT_NAMESPACE: Final = "infraagent-system"
DEFAULT_IMAGE: Final = "ghcr.io/infraagent/infraagent:latest"
OPERATOR_NAME: Final = "infraagent-operator"
METRICS_PORT: Final = 8080
_RBAC_API: Final = "rbac.authorization.k8s.io/v1"
_RBAC: Final = "rbac.authorization.k8s.io"
_WRITE: Final = ("get", "list", "watch", "create", "update", "patch", "delete")
_READ: Final = ("get", "list", "watch")
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# What agents read (identity.READ_GROUPS): core resources by name so Secrets stay out.
_CORE_READS: Final = (
    "configmaps", "endpoints", "events", "limitranges", "namespaces", "nodes",
    "persistentvolumeclaims", "persistentvolumes", "pods", "pods/log", "replicationcontrollers",
    "resourcequotas", "serviceaccounts", "services",
)  # fmt: skip
_READ_GROUPS: Final = (
    "apps", "autoscaling", "batch", "discovery.k8s.io", "events.k8s.io", "metrics.k8s.io",
    "networking.k8s.io", "policy", "storage.k8s.io",
)  # fmt: skip


def install_manifests(
    namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE
) -> list[dict[str, Any]]:
    """The Namespace, CRDs, RBAC, admission policy, Deployment and metrics Service."""
    if not _DNS_LABEL.match(namespace):
        raise ValueError(f"not a namespace name: {namespace!r}")
    if not image.strip() or any(c.isspace() for c in image):
        raise ValueError(f"not an image reference: {image!r}")
    namespace_doc = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": _labels("operator")},
    }
    return [
        namespace_doc,
        *all_crds().values(),
        *_rbac(namespace),
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
    """The operator's ClusterRole rules (see the module docstring for each choice)."""
    own = tuple(s.plural for s in KIND_SPECS)
    admission = ("validatingadmissionpolicies", "validatingadmissionpolicybindings")
    return [
        _rule((API_GROUP,), own, _WRITE),
        _rule((API_GROUP,), tuple(f"{p}/status" for p in own), ("get", "update", "patch")),
        _rule((API_GROUP,), tuple(f"{p}/finalizers" for p in own), ("update",)),
        _rule(("",), ("serviceaccounts",), _WRITE),
        _rule(("",), ("serviceaccounts",), ("impersonate",)),
        _rule((_RBAC,), ("roles", "rolebindings", "clusterroles", "clusterrolebindings"), _WRITE),
        _rule((_RBAC,), ("roles", "clusterroles"), ("bind", "escalate")),
        _rule(("admissionregistration.k8s.io",), admission, (*_READ, "create")),
        _rule(
            ("admissionregistration.k8s.io",),
            admission,
            ("update", "patch", "delete"),
            (POLICY_NAME,),
        ),
        _rule(("", "events.k8s.io"), ("events",), ("create", "patch")),
        _rule(("",), _CORE_READS, _READ),
        _rule(_READ_GROUPS, ("*",), _READ),
    ]


def namespace_rules() -> list[dict[str, Any]]:
    """The operator's Role rules in its own namespace."""
    return [
        _rule(("coordination.k8s.io",), ("leases",), _WRITE),
        _rule(("",), ("configmaps",), _WRITE),
        _rule(("",), ("secrets",), _READ),
    ]


def _rbac(namespace: str) -> list[dict[str, Any]]:
    meta = {"name": OPERATOR_NAME, "labels": _labels("operator")}
    ns_meta = {**meta, "namespace": namespace}
    subject = {"kind": "ServiceAccount", "name": OPERATOR_NAME, "namespace": namespace}

    def role_ref(kind: str) -> dict[str, str]:
        return {"apiGroup": _RBAC, "kind": kind, "name": OPERATOR_NAME}

    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(ns_meta)},
        {"apiVersion": _RBAC_API, "kind": "ClusterRole", "metadata": dict(meta),
         "rules": cluster_rules()},
        {"apiVersion": _RBAC_API, "kind": "ClusterRoleBinding", "metadata": dict(meta),
         "roleRef": role_ref("ClusterRole"), "subjects": [subject]},
        {"apiVersion": _RBAC_API, "kind": "Role", "metadata": dict(ns_meta),
         "rules": namespace_rules()},
        {"apiVersion": _RBAC_API, "kind": "RoleBinding", "metadata": dict(ns_meta),
         "roleRef": role_ref("Role"), "subjects": [subject]},
    ]  # fmt: skip


def _container(image: str) -> dict[str, Any]:
    # `infraagent operator` is a placeholder: the operator command arrives with a later
    # change; until then this container exits with a usage error.
    return {
        "name": "operator",
        "image": image,
        "args": ["operator"],
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
                    "containers": [_container(image)],
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
