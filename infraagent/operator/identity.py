"""Keeping each InfraAgent's identity on the cluster equal to what its skills generate.

``reconcile_identity`` applies what ``identity.agent_rbac`` generates for an agent (its
ServiceAccount, Roles, ClusterRoles and bindings) and prunes what it no longer generates;
``remove_identity`` deletes all of it when the agent goes. The operator calls the first when an
InfraAgent or one of its skills changes (and on its resync timer), the second when an
InfraAgent is deleted. Both talk to Kubernetes only through ``ports.Cluster``.

- **Writes**: every object goes through ``Cluster.apply_with_outcome``, so an object that is
  already right is not written (its ``resourceVersion`` stays put) and the outcome says
  ``created``, ``configured`` or ``unchanged``; pruned objects are reported ``deleted``.
- **Ownership**: namespaced objects in the agent's own namespace get a controller
  ``ownerReference`` to the InfraAgent (``blockOwnerDeletion: false``: the operator needs no
  rights on the InfraAgent's finalizers), so the garbage collector removes them with it.
  Objects in other namespaces and cluster-scoped ones cannot have a namespaced owner (the
  garbage collector would treat the owner as absent and delete them at once): the labels are
  what ties them to the agent, and ``remove_identity`` deletes them explicitly.
- **Pruning**: the agent's objects are found by the labels ``agent_rbac`` puts on every one
  (``app.kubernetes.io/managed-by``, ``infraagent.io/agent``, ``infraagent.io/agent-namespace``),
  listed cluster-wide per kind, so a Role left in a namespace that no sheet names any more,
  or that is no longer in ``namespaces``, is still found and removed.

Outcome labels are ``Kind/name`` for cluster-scoped objects and ``Kind/namespace/name`` for
namespaced ones (the per-namespace Roles of one agent share a name).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from infraagent.errors import KubeNotFound
from infraagent.guardrails.restmapper import RestMapper
from infraagent.identity import DEFAULT_OPERATOR_NAMESPACE, agent_rbac
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.skill import ActionSheet
from infraagent.ports import Cluster

_RBAC_API: Final = "rbac.authorization.k8s.io/v1"
# (apiVersion, kind) of everything an agent's identity may hold, in deletion order: bindings
# before the roles they grant, the ServiceAccount last.
IDENTITY_KINDS: Final = (
    (_RBAC_API, "ClusterRoleBinding"),
    (_RBAC_API, "RoleBinding"),
    (_RBAC_API, "ClusterRole"),
    (_RBAC_API, "Role"),
    ("v1", "ServiceAccount"),
)
_NAMESPACED: Final = frozenset({"RoleBinding", "Role", "ServiceAccount"})
Outcomes = list[tuple[str, str]]
_Key = tuple[str, str, str | None, str]  # apiVersion, kind, namespace, name


def agent_selector(agent_name: str, agent_namespace: str) -> str:
    """The label selector that finds every object of one agent's identity."""
    return (
        f"app.kubernetes.io/managed-by=infraagent,infraagent.io/agent={agent_name},"
        f"infraagent.io/agent-namespace={agent_namespace}"
    )


def owner_reference(agent: InfraAgent) -> dict[str, Any]:
    """The controller ownerReference to ``agent``; ``ValueError`` without name or uid."""
    name, uid = agent.metadata.name, agent.metadata.uid
    if not name or not uid:
        raise ValueError("an owner reference needs the InfraAgent as read from the cluster (uid)")
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "InfraAgent",
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


def reconcile_identity(
    cluster: Cluster,
    agent: InfraAgent,
    sheets: Mapping[str, ActionSheet],
    *,
    namespaces: Sequence[str],
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE,
    mapper: RestMapper | None = None,
) -> Outcomes:
    """Apply ``agent``'s generated identity, owned where it can be, and prune the rest.

    ``agent`` is the InfraAgent as read from the cluster (its ``metadata.uid`` becomes the
    owner reference); ``sheets`` maps skill name to Action Sheet and ``namespaces`` lists the
    cluster's namespaces, as ``identity.agent_rbac`` takes them. Returns one
    ``(label, outcome)`` per object applied, then one ``(label, "deleted")`` per object pruned.
    An object in a namespace not among ``namespaces`` is not applied (outcome ``"skipped:
    namespace missing"``): sync again when the cluster's namespaces change.
    """
    name, home = agent.metadata.name, agent.metadata.namespace
    if not name or not home:
        raise ValueError("an agent needs a name and a namespace to get an identity")
    reference = owner_reference(agent)
    manifests = agent_rbac(
        agent, sheets, operator_namespace=operator_namespace, mapper=mapper, namespaces=namespaces
    )
    outcomes: Outcomes = []
    wanted: set[_Key] = set()
    present = set(namespaces) | {home}
    for manifest in manifests:
        where = manifest["metadata"].get("namespace")
        if where is not None and where not in present:
            # Rights in a namespace that does not exist (yet) are granted once it does: the
            # caller syncs again when the cluster's namespaces change.
            outcomes.append((_label(manifest), "skipped: namespace missing"))
            continue
        if where == home:
            manifest["metadata"]["ownerReferences"] = [reference]
        _, outcome = cluster.apply_with_outcome(manifest)
        outcomes.append((_label(manifest), outcome))
        wanted.add(_key(manifest))
    stale = [obj for obj in _labelled(cluster, name, home, [None]) if _key(obj) not in wanted]
    outcomes += _delete_all(cluster, stale)
    return outcomes


def remove_identity(
    cluster: Cluster,
    agent_name: str,
    agent_namespace: str,
    namespaces: Sequence[str] | None = None,
) -> Outcomes:
    """Delete every object labelled for the agent; ``(label, "deleted")`` for each.

    ``namespaces`` None (the default) looks for the namespaced objects in every namespace;
    a list looks only there and in the agent's own namespace (for a caller whose rights are
    bounded to those). Cluster-scoped objects are always found.
    """
    scopes: list[str | None] = [None]
    if namespaces is not None:
        scopes = [*sorted(set(namespaces) | {agent_namespace})]
    return _delete_all(cluster, _labelled(cluster, agent_name, agent_namespace, scopes))


def _labelled(
    cluster: Cluster, name: str, home: str, scopes: Sequence[str | None]
) -> list[dict[str, Any]]:
    """The live objects carrying the agent's labels, in ``IDENTITY_KINDS`` order.

    ``scopes`` are the namespaces to list namespaced kinds in (None: all of them);
    cluster-scoped kinds are listed once.
    """
    selector = agent_selector(name, home)
    found: list[dict[str, Any]] = []
    for api_version, kind in IDENTITY_KINDS:
        kind_scopes: Sequence[str | None] = scopes if kind in _NAMESPACED else [None]
        for scope in kind_scopes:
            listing = cluster.list(api_version, kind, scope, label_selector=selector)
            found += listing.items
    return found


def _delete_all(cluster: Cluster, objects: Iterable[Mapping[str, Any]]) -> Outcomes:
    """Delete each object (one already gone counts as deleted)."""
    outcomes: Outcomes = []
    for obj in objects:
        api_version, kind, namespace, name = _key(obj)
        with contextlib.suppress(KubeNotFound):
            cluster.delete(api_version, kind, name, namespace)
        outcomes.append((_label(obj), "deleted"))
    return outcomes


def _key(obj: Mapping[str, Any]) -> _Key:
    meta = obj["metadata"]
    return (str(obj["apiVersion"]), str(obj["kind"]), meta.get("namespace"), str(meta["name"]))


def _label(obj: Mapping[str, Any]) -> str:
    _, kind, namespace, name = _key(obj)
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"
