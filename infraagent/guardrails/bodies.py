"""What a request body would change, found in one pass over it.

Manifests, merge patches, strategic merge patches (with their ``$``-directives) and JSON
patches (RFC 6902) are first turned into plain nested documents: a JSON patch operation
``replace /spec/replicas 0`` becomes ``{"spec": {"replicas": 0}}`` and ``remove
/metadata/finalizers`` becomes ``{"metadata": {"finalizers": None}}``. One recursive walk
then collects ``BodyFacts``. The walk deliberately looks everywhere in the document, not
only at the paths of known kinds, so a custom resource that embeds a pod template is
judged like a Deployment. Nothing here knows about tiers or decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

_HOST_NAMESPACES: Final = frozenset({"hostNetwork", "hostPID", "hostIPC"})
_MISSING: Final = object()


@dataclass
class BodyFacts:
    """Effects found in a body. ``finalizers`` holds every value given to a finalizers key."""

    replicas_zero: bool = False
    reclaim_delete: bool = False
    privileged: bool = False
    host_namespaces: set[str] = field(default_factory=set)
    host_path: bool = False
    added_capabilities: bool = False
    service_accounts: set[str] = field(default_factory=set)
    finalizers: list[Any] = field(default_factory=list)
    secret_types: set[str] = field(default_factory=set)
    claims_deleted: bool = False
    opaque: bool = False


def documents(body: Any, patch_type: str | None) -> list[Any]:
    """The body as plain documents (a JSON patch becomes one document per operation;
    a ``move`` also removes its source, as a ``remove`` would)."""
    if body is None:
        return []
    if patch_type == "json" or (isinstance(body, list) and body and _is_json_patch(body)):
        moved = [
            _operation_document({"op": "remove", "path": op["from"]})
            for op in body
            if isinstance(op, dict) and op.get("op") == "move" and isinstance(op.get("from"), str)
        ]
        return [_operation_document(op) for op in body] + moved
    if isinstance(body, list):
        return list(body)
    return [body]


def _is_json_patch(body: list[Any]) -> bool:
    return all(isinstance(op, dict) and "op" in op and "path" in op for op in body)


def _operation_document(op: Any) -> Any:
    if not isinstance(op, dict) or not isinstance(op.get("path"), str):
        return op
    value = op.get("value") if op.get("op") in ("add", "replace", "test") else None
    segments = [s.replace("~1", "/").replace("~0", "~") for s in op["path"].split("/")[1:]]
    document: Any = value
    for segment in reversed(segments):
        document = {segment: document}
    return document


def facts_of(body: Any, patch_type: str | None) -> BodyFacts:
    """Walk every document of ``body`` once and collect what it would change.

    JSON patch ``move`` and ``copy`` write a value the body does not show, so a body with
    either is marked ``opaque`` and cannot be judged.
    """
    facts = BodyFacts()
    if isinstance(body, list) and any(
        isinstance(op, dict) and op.get("op") in ("move", "copy") for op in body
    ):
        facts.opaque = True
    for document in documents(body, patch_type):
        _walk(document, facts)
    return facts


def _walk(node: Any, facts: BodyFacts) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, facts)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if isinstance(key, str):
            _inspect(key, value, facts)
        _walk(value, facts)


def _inspect(key: str, value: Any, facts: BodyFacts) -> None:
    if key == "replicas" and _is_zero(value):
        facts.replicas_zero = True
    elif key == "persistentVolumeReclaimPolicy" and str(value).lower() == "delete":
        facts.reclaim_delete = True
    elif key == "privileged" and value is True:
        facts.privileged = True
    elif key in _HOST_NAMESPACES and value is True:
        facts.host_namespaces.add(key)
    elif (key == "hostPath" and value is not None) or (
        key == "local" and isinstance(value, dict) and "path" in value
    ):
        facts.host_path = True
    elif key == "persistentVolumeClaimRetentionPolicy" and _deletes_claims(value):
        facts.claims_deleted = True
    elif key == "capabilities" and isinstance(value, dict) and value.get("add"):
        facts.added_capabilities = True
    elif key in ("serviceAccountName", "serviceAccount") and isinstance(value, str):
        facts.service_accounts.add(value)
    elif key == "finalizers" or key.endswith("/finalizers"):
        facts.finalizers.append(value if key == "finalizers" else {key: value})
    elif key == "type" and isinstance(value, str) and value.startswith("kubernetes.io/"):
        facts.secret_types.add(value)


def _deletes_claims(policy: Any) -> bool:
    if not isinstance(policy, dict):
        return False  # null resets the policy to its default, Retain
    return any(str(v).lower() == "delete" for v in policy.values())


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    return isinstance(value, str) and value.strip() in ("0", "0.0")
