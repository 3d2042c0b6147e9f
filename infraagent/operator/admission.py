"""Keeping the admission policy in place: the operator puts it back when it is deleted or edited.

The ValidatingAdmissionPolicy and binding of ``infraagent.admission`` cannot protect
themselves (kube-apiserver exempts admission configuration from admission), so the operator
does: it calls ``ensure_admission_policy`` on a timer (its resync period) and on every watch
event for either object, and each call brings both back to exactly what
``admission_policy()`` says.

- **Intact**: nothing is written (``Cluster.apply_with_outcome`` skips a no-op apply), the
  outcome is ``unchanged`` and ``resourceVersion`` stays put.
- **Deleted**: re-applied, ``created``.
- **Edited**: server-side apply alone cannot undo every edit. A field another manager added
  stays theirs (an extra ``matchCondition``, a ``matchResources`` on the binding), and a set
  list keeps the other manager's items, so ``validationActions: [Warn]`` would become
  ``[Deny, Warn]``, which the server refuses. So an object whose ``spec`` any field manager
  other than InfraAgent's own has written to is deleted and applied afresh, ``replaced``; for
  that moment the policy is not enforced, which is no worse than the edit it undoes. Anything
  else that differs is applied over, ``configured``.

Talks to Kubernetes only through ``ports.Cluster``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any, Final

from infraagent.admission import admission_policy
from infraagent.errors import KubeNotFound
from infraagent.ports import Cluster

# The field manager InfraAgent's Kubernetes adapter applies with (adapters.kube.FIELD_MANAGER;
# the operator may not import the adapter).
FIELD_MANAGER: Final = "infraagent"


def ensure_admission_policy(
    cluster: Cluster, agent_namespaces: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Make the admission policy and its binding exactly what InfraAgent installs.

    ``agent_namespaces`` is passed to ``admission_policy`` (empty: agents in any namespace).
    Returns ``(Kind/name, outcome)`` per object: ``created``, ``configured``, ``unchanged``
    or ``replaced`` (see the module docstring).
    """
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", _ensure(cluster, doc))
        for doc in admission_policy(agent_namespaces)
    ]


def _ensure(cluster: Cluster, doc: Mapping[str, Any]) -> str:
    api_version, kind, name = doc["apiVersion"], doc["kind"], doc["metadata"]["name"]
    try:
        live = cluster.get(api_version, kind, name)
    except KubeNotFound:
        live = None
    if live is not None and edited_by_others(live):
        with contextlib.suppress(KubeNotFound):
            cluster.delete(api_version, kind, name)
        cluster.apply(doc)
        return "replaced"
    _, outcome = cluster.apply_with_outcome(doc)
    return outcome


def edited_by_others(live: Mapping[str, Any]) -> bool:
    """Whether a field manager other than InfraAgent's owns any part of ``live``'s spec.

    Status writers (entries for a subresource, such as the API server's type checking) and
    metadata-only edits (labels, annotations) do not count.
    """
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER or entry.get("subresource"):
            continue
        if "f:spec" in (entry.get("fieldsV1") or {}):
            return True
    return False
