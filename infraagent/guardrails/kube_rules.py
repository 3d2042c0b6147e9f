"""Rules over one resolved Kubernetes request: its tier, self-protection, escape to the
node, and data protection.

``classify`` computes the tier from the request and its body facts; a data mutation comes
back with the data-protection rule that made it one. ``self_protection`` and
``node_escape`` return a (rule, reason) refusal or None. Nothing here consults Action
Sheets or autonomy; the engine applies those afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from infraagent.guardrails.bodies import BodyFacts
from infraagent.guardrails.resources import DATA_KINDS
from infraagent.models.agentrun import Tier
from infraagent.models.requests import READ_VERBS, KubeRequest

_DELETES: Final = frozenset({"delete", "deletecollection"})
_DATA_RULES: Final = {
    ("", "persistentvolumeclaims"): "data-protection/pvc-delete",
    ("", "persistentvolumes"): "data-protection/pv-delete",
    ("", "namespaces"): "data-protection/namespace-delete",
    ("", "secrets"): "data-protection/secret-delete",
    ("snapshot.storage.k8s.io", "volumesnapshots"): "data-protection/snapshot-delete",
    ("snapshot.storage.k8s.io", "volumesnapshotcontents"): "data-protection/snapshot-delete",
}
_WATCHED: Final = frozenset({("apps", "statefulsets"), ("velero.io", "deletebackuprequests")})
_PROTECTION_FINALIZERS: Final = {
    ("", "persistentvolumeclaims"): "kubernetes.io/pvc-protection",
    ("", "persistentvolumes"): "kubernetes.io/pv-protection",
}
_SELF_PROTECTED_GROUPS: Final = {
    "rbac.authorization.k8s.io": ("self-protection/rbac", "RBAC objects"),
    "admissionregistration.k8s.io": ("self-protection/admission", "admission configuration"),
    "apiextensions.k8s.io": ("self-protection/crd", "CustomResourceDefinitions"),
    "core.infraagent.io": ("self-protection/infraagent", "InfraAgent's own resources"),
    "certificates.k8s.io": ("self-protection/credentials", "certificate signing requests"),
}

Refusal = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Classification:
    tier: Tier
    rule: str | None = None
    reason: str = ""


def is_read(request: KubeRequest) -> bool:
    """Reads and dry runs change nothing."""
    return request.verb in READ_VERBS or request.dry_run


def classify(request: KubeRequest, facts: BodyFacts, namespaced: bool) -> Classification:
    """The tier of a resolved request; data mutations carry their rule and reason."""
    if is_read(request):
        return Classification(Tier.READ)
    data = _data_mutation(request, facts)
    if data is not None:
        return Classification(Tier.DATA_MUTATION, *data)
    if _destructive(request, facts, namespaced):
        return Classification(Tier.DESTRUCTIVE_MUTATION)
    return Classification(Tier.SERVICE_MUTATION)


def _data_mutation(request: KubeRequest, facts: BodyFacts) -> Refusal | None:
    key = (request.group or "", request.resource)
    if not (key in DATA_KINDS or facts.reclaim_delete or facts.claims_deleted or key in _WATCHED):
        return None
    what = request.summary()
    if request.verb in _DELETES and key in DATA_KINDS:
        rule = _DATA_RULES.get(key, "data-protection/data-operator-delete")
        return rule, f"{what}: deleting {request.resource} destroys data"
    if key == ("velero.io", "deletebackuprequests") and request.verb == "create":
        return "data-protection/data-operator-delete", f"{what}: asks Velero to delete a backup"
    if key == ("", "namespaces") and request.subresource == "finalize":
        return "data-protection/namespace-delete", f"{what}: forcing a namespace's deletion"
    if key == ("", "secrets") and request.verb in ("update", "patch"):
        return "data-protection/secret-delete", f"{what}: overwriting a Secret loses its value"
    if facts.reclaim_delete:
        return (
            "data-protection/reclaim-policy",
            f"{what}: sets persistentVolumeReclaimPolicy Delete",
        )
    if key in DATA_KINDS and _drops_finalizers(request, facts, key):
        return "data-protection/finalizers", f"{what}: removes finalizers that protect data"
    if facts.claims_deleted:
        return (
            "data-protection/statefulset-claims",
            f"{what}: sets a StatefulSet to delete its volume claims",
        )
    orphaned = "cascade=orphan" in request.options
    if key == ("apps", "statefulsets") and request.verb in _DELETES and not orphaned:
        return (
            "data-protection/statefulset-claims",
            f"{what}: a StatefulSet delete can delete its volume claims with it "
            "(only --cascade=orphan is known to keep them)",
        )
    return None


def _drops_finalizers(request: KubeRequest, facts: BodyFacts, key: tuple[str, str]) -> bool:
    protection = _PROTECTION_FINALIZERS.get(key)
    if request.verb == "update" and not facts.finalizers:
        return protection is not None
    for value in facts.finalizers:
        keeps = isinstance(value, list) and protection is not None and protection in value
        if not keeps:
            return True
    return False


def _destructive(request: KubeRequest, facts: BodyFacts, namespaced: bool) -> bool:
    if request.verb in _DELETES or facts.replicas_zero:
        return True
    if request.options & {"undo", "drain", "taint-effect=NoExecute"}:
        return True
    if request.subresource == "eviction":
        return True
    return request.verb == "create" and not namespaced


def self_protection(request: KubeRequest, operator_namespace: str) -> Refusal | None:
    """Refuse what could raise the agent's rights, erase its audit trail or touch the operator.

    Reads are refused only in the operator's namespace (its Secrets hold the model's keys).
    """
    if is_read(request):
        return _operator_read(request, operator_namespace)
    group = request.group or ""
    if group in _SELF_PROTECTED_GROUPS:
        rule, what = _SELF_PROTECTED_GROUPS[group]
        return rule, f"{request.summary()}: agents never change {what}"
    if (group, request.resource, request.subresource) == ("", "serviceaccounts", "token"):
        return "self-protection/credentials", f"{request.summary()}: agents never mint tokens"
    if _touches_namespace(request, operator_namespace):
        return (
            "self-protection/operator-namespace",
            f"{request.summary()}: the operator's namespace {operator_namespace!r} is off limits",
        )
    return None


def _operator_read(request: KubeRequest, namespace: str) -> Refusal | None:
    secrets_everywhere = request.all_namespaces and (request.group, request.resource) == (
        "",
        "secrets",
    )
    if request.namespace == namespace or secrets_everywhere:
        return (
            "self-protection/operator-namespace",
            f"{request.summary()}: the operator's namespace {namespace!r} is off limits",
        )
    return None


def _touches_namespace(request: KubeRequest, namespace: str) -> bool:
    if request.namespace == namespace:
        return True
    if (request.group or "", request.resource) == ("", "namespaces"):
        return request.name in (namespace, None)
    return request.all_namespaces and "drain" not in request.options


def _suspicious(facts: BodyFacts) -> bool:
    return bool(
        facts.privileged
        or facts.host_namespaces
        or facts.host_path
        or facts.added_capabilities
        or facts.service_accounts
        or facts.secret_types
    )


def workload_refusal(request: KubeRequest, facts: BodyFacts) -> Refusal | None:
    """Refuse bodies that escape to the node or borrow another identity."""
    if is_read(request) or not _suspicious(facts):
        return None
    what = request.summary()
    if facts.privileged:
        return "node-escape/privileged", f"{what}: asks for a privileged container"
    if facts.host_namespaces:
        names = ", ".join(sorted(facts.host_namespaces))
        return "node-escape/host-namespace", f"{what}: asks for host namespaces ({names})"
    if facts.host_path:
        return "node-escape/host-path", f"{what}: mounts a hostPath volume"
    if facts.added_capabilities:
        return "node-escape/capabilities", f"{what}: adds Linux capabilities"
    borrowed = sorted(facts.service_accounts - {"default"})
    if borrowed:
        return (
            "self-protection/credentials",
            f"{what}: runs a workload as ServiceAccount {borrowed[0]!r}, borrowing its rights",
        )
    if "kubernetes.io/service-account-token" in facts.secret_types:
        return "self-protection/credentials", f"{what}: creates a ServiceAccount token Secret"
    return None
