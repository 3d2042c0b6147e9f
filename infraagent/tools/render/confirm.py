"""Mutations as kubectl confirms them: ``deployment.apps/web scaled``, ``pod "x" deleted``."""

from __future__ import annotations

from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.render._util import as_list, as_map, dig, text
from infraagent.tools.render.documents import group_of, kind_ref
from infraagent.tools.render.kinds import singular

RESTARTED_AT: Final = "kubectl.kubernetes.io/restartedAt"


def _ref(request: KubeRequest, obj: Any) -> str:
    """``deployment.apps``: the response's own kind, unless it is a subresource or Status."""
    kind = text(obj, "kind")
    if request.subresource or not kind or kind == "Status" or kind.endswith("List"):
        return kind_ref(singular(request.resource), request.group or "")
    api_version = text(obj, "apiVersion")
    return kind_ref(kind, group_of(api_version) if api_version else request.group or "")


def _name(request: KubeRequest, obj: Any) -> str:
    return (
        text(obj, "metadata", "name")
        or request.name
        or text(request.body, "metadata", "name")
        or text(obj, "details", "name")
    )


def _patch_verb(request: KubeRequest) -> str:
    body = as_map(request.body)
    if request.subresource == "scale":
        return "scaled"
    if request.patch_type == "apply":
        return "configured"
    if "undo" in request.options:
        return "rolled back"
    if RESTARTED_AT in as_map(dig(body, "spec", "template", "metadata", "annotations")):
        return "restarted"
    spec = as_map(body.get("spec"))
    if set(body) == {"spec"} and set(spec) == {"unschedulable"}:
        return "cordoned" if spec["unschedulable"] else "uncordoned"
    if set(body) == {"spec"} and set(spec) == {"paused"}:
        return "paused" if spec["paused"] else "resumed"
    metadata = as_map(body.get("metadata"))
    if set(body) == {"metadata"} and set(metadata) == {"labels"}:
        return "labeled"
    if set(body) == {"metadata"} and set(metadata) == {"annotations"}:
        return "annotated"
    return "patched"


def _suffix(request: KubeRequest) -> str:
    return " (server dry run)" if request.dry_run else ""


def _deleted(request: KubeRequest, response: Any) -> str:
    items = as_list(dig(response, "items"))
    if request.name is None and isinstance(response, dict) and "items" in response:
        if not items:
            return "No resources found"
        lines = [f'{_ref(request, i)} "{_name(request, i)}" deleted' for i in items]
        return "\n".join(line + _suffix(request) for line in lines)
    return f'{_ref(request, response)} "{_name(request, response)}" deleted{_suffix(request)}'


def confirmation(request: KubeRequest, response: Any) -> str:
    """The line(s) kubectl prints after a successful mutation."""
    if request.verb in ("delete", "deletecollection"):
        return _deleted(request, response)
    if request.verb == "create" and request.subresource == "eviction":
        return f"pod/{request.name or _name(request, response)} evicted{_suffix(request)}"
    if request.verb == "create":
        verb = "created"
    elif request.verb == "update":
        verb = "replaced"
    else:
        verb = _patch_verb(request)
    return f"{_ref(request, response)}/{_name(request, response)} {verb}{_suffix(request)}"
