"""Which kind a request or response is about, when the response does not say."""

from __future__ import annotations

from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.render._util import text

_KINDS: Final = {
    "Pod": ("pods", "po"),
    "Deployment": ("deployments", "deploy"),
    "StatefulSet": ("statefulsets", "sts"),
    "ReplicaSet": ("replicasets", "rs"),
    "DaemonSet": ("daemonsets", "ds"),
    "Service": ("services", "svc"),
    "Node": ("nodes", "no"),
    "Event": ("events", "ev"),
}
_BY_RESOURCE: Final = {alias: kind for kind, aliases in _KINDS.items() for alias in aliases}
_SINGULAR: Final = {
    "endpoints": "endpoints",
    "ingresses": "ingress",
    "ingressclasses": "ingressclass",
}


def singular(resource: str) -> str:
    """``networkpolicies`` -> ``networkpolicy``: the lower-case kind of a plural resource."""
    lowered = resource.lower()
    if lowered in _SINGULAR:
        return _SINGULAR[lowered]
    if lowered in _BY_RESOURCE:
        return _BY_RESOURCE[lowered].lower()
    if lowered.endswith("ies"):
        return lowered[:-3] + "y"
    if lowered.endswith(("sses", "xes", "ches", "shes")):
        return lowered[:-2]
    return lowered.removesuffix("s")


def list_kind(request: KubeRequest, response: Any) -> str:
    """The kind of the items of a list response: from ``PodList``, else the resource."""
    kind = text(response, "kind")
    if kind.endswith("List") and kind != "List":
        return kind.removesuffix("List")
    return _BY_RESOURCE.get(request.resource.lower(), "")
