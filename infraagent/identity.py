"""Per-agent identity: a ServiceAccount and least-privilege RBAC from the Action Sheets.

``agent_rbac`` turns an InfraAgent and its skills' Action Sheets into the manifests of the
agent's identity (architecture §3, layer 2): its ServiceAccount ``infraagent-agent-<name>``,
a Role and RoleBinding per namespace its actions touch, a ClusterRole and binding for the
cluster-scoped resources they touch, and a read-only ClusterRole and binding. Pure: it
computes dicts and applies nothing.

Decisions, each one the narrower of the choices RBAC allows:

- **Actions**: those of the agent's skills that its ``allowedActions``/``deniedActions``
  leave in. Verbs are the declared ones (``*`` is the eight Kubernetes verbs), cut to what
  the action's tier can ever permit: a ``read`` action gets only get/list/watch, a
  ``service-mutation`` one no delete/deletecollection (the guardrails classify every delete as
  destructive) and no create of cluster-scoped resources.
- **Namespaces**: an exact name becomes a Role there. A glob, ``*`` included, cannot be
  written in RBAC without a ClusterRole, and a ClusterRole would reach the operator's
  namespace; so globs are expanded over ``namespaces`` (the cluster's namespaces, which the
  caller lists and regenerates on change) and refused with ``ValueError`` when it is not
  given. The operator's namespace is always left out. A matcher without namespaces over a
  namespaced resource means every namespace, as ``*``.
- **Resources**: ``plural.group[/sub]`` resolves through the REST mapper (an unknown
  ``plural.group`` is taken literally, as RBAC would). ``*`` expands to every resource the
  mapper knows, without node or workload escapes (exec, attach, port-forward, proxy,
  ephemeral containers, bindings) and subject to the rules below.
- **Names**: ``resourceNames`` when every name glob is an exact name; a glob widens to any
  name (the guardrails still match the globs). create and deletecollection cannot be limited
  by name in RBAC, so they get no ``resourceNames``.
- **Never**, whatever a sheet says: anything in ``FORBIDDEN_GROUPS`` (RBAC, admission, CRDs,
  API services, certificate signing requests, InfraAgent's own resources), tokens
  (``serviceaccounts/token``), ``namespaces/finalize``, delete/deletecollection of
  ``DATA_KINDS``, update/patch of Secrets (overwriting one loses its value), create of Velero
  delete requests, anything in the operator's namespace, and writes to Namespaces other than
  exactly named ones (never the operator's). A PV patch that sets the reclaim policy to Delete
  depends on the body, which RBAC cannot see: the admission policy (layer 3) refuses it.
- **Reads**: the guardrails let agents read undeclared, non-sensitive resources, so a
  ClusterRole grants get/list/watch cluster-wide on ``READ_GROUPS`` (core, apps, batch,
  autoscaling, networking, policy, events, discovery, storage, metrics) and ``pods/log``, never
  Secrets (only declared reads of them, per namespace). Bound with a ClusterRoleBinding, it
  does include the operator's namespace (pods, logs, ConfigMaps; not Secrets, where the
  model's keys live): RBAC cannot subtract one namespace, and per-namespace RoleBindings to
  the read ClusterRole would break ``--all-namespaces`` lists. The guardrail engine refuses
  reads in the operator's namespace (layer 1).

Names are deterministic: ``infraagent-agent-<name>`` for the ServiceAccount and
``infraagent-agent:<agent namespace>:<name>[:read|:cluster]`` for roles and bindings (RBAC
names may hold colons; the agent's namespace keeps two same-named agents apart). Every object
carries ``app.kubernetes.io/managed-by: infraagent``, ``infraagent.io/agent`` and
``infraagent.io/agent-namespace``; the list is sorted and rules are sorted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from infraagent.guardrails.globs import GlobSet
from infraagent.guardrails.resources import DATA_KINDS
from infraagent.guardrails.restmapper import RestMapper
from infraagent.models.agent import InfraAgent
from infraagent.models.skill import KUBE_VERBS, Action, ActionSheet, ActionTier, KubeMatcher

SERVICE_ACCOUNT_PREFIX: Final = "infraagent-agent-"
DEFAULT_OPERATOR_NAMESPACE: Final = "infraagent-system"
READ_ONLY: Final = ("get", "list", "watch")
FORBIDDEN_GROUPS: Final = frozenset(
    {"rbac.authorization.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io"}
    | {"core.infraagent.io", "certificates.k8s.io", "apiregistration.k8s.io"}
)
READ_GROUPS: Final = frozenset(
    {"", "apps", "batch", "autoscaling", "networking.k8s.io", "policy", "events.k8s.io"}
    | {"discovery.k8s.io", "storage.k8s.io", "metrics.k8s.io"}
)
_UNREADABLE: Final = frozenset({("", "secrets"), ("", "bindings")})
_ESCAPES: Final = frozenset(
    {"exec", "attach", "portforward", "proxy", "token", "ephemeralcontainers", "binding"}
)
_DELETES: Final = frozenset({"delete", "deletecollection"})
_UNNAMEABLE: Final = frozenset({"create", "deletecollection"})
_GLOB_CHARS: Final = frozenset("*?[")
_KIND_ORDER: Final = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
_RBAC_API: Final = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True, order=True, slots=True)
class _Grant:
    """One verb on one resource (``plural[/sub]``), in one namespace or cluster-wide (None)."""

    namespace: str | None
    group: str
    resource: str
    verb: str
    names: tuple[str, ...] = ()  # () is any name


@dataclass(frozen=True, slots=True)
class _Target:
    group: str
    resource: str  # plural[/sub]
    namespaced: bool | None  # None: unknown to the mapper


@dataclass(frozen=True, slots=True)
class _Context:
    mapper: RestMapper
    operator_namespace: str
    namespaces: tuple[str, ...] | None


def service_account_name(agent_name: str) -> str:
    """The name of an agent's ServiceAccount (the admission policy matches this prefix)."""
    return SERVICE_ACCOUNT_PREFIX + agent_name


def agent_rbac(
    agent: InfraAgent,
    sheets: Mapping[str, ActionSheet],
    *,
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE,
    mapper: RestMapper | None = None,
    namespaces: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """The ServiceAccount, roles and bindings of ``agent``, sorted (see the module docstring).

    ``sheets`` maps skill name to Action Sheet (a skill without one declares nothing);
    ``namespaces`` lists the cluster's namespaces, needed only to expand namespace globs.
    Raises ``ValueError`` for an agent without name or namespace, a namespace glob without
    ``namespaces``, or a bare resource name the mapper does not know.
    """
    name, home = agent.metadata.name, agent.metadata.namespace
    if not name or not home:
        raise ValueError("an agent needs a name and a namespace to get an identity")
    context = _Context(
        mapper or RestMapper.builtin(),
        operator_namespace,
        None if namespaces is None else tuple(sorted(set(namespaces))),
    )
    grants: set[_Grant] = set()
    for action in _permitted_actions(agent, sheets):
        if action.kube is not None:
            grants.update(_action_grants(action.tier, action.kube, context))
    allowed = (_never_filter(g, operator_namespace) for g in grants)
    kept = _drop_covered({g for g in allowed if g is not None})
    return _manifests(name, home, kept, context.mapper)


# ------------------------------------------------------------------------- from the sheets


def _permitted_actions(agent: InfraAgent, sheets: Mapping[str, ActionSheet]) -> Iterator[Action]:
    guardrails = agent.spec.guardrails
    allowed, denied = GlobSet.of(guardrails.allowedActions), GlobSet.of(guardrails.deniedActions)
    for ref in agent.spec.skills:
        sheet = sheets.get(ref.name)
        for action in sheet.actions if sheet else []:
            qualified = f"{ref.name}/{action.id}"
            if denied.matches(qualified):
                continue
            if guardrails.allowedActions and not allowed.matches(qualified):
                continue
            yield action


def _action_grants(tier: ActionTier, kube: KubeMatcher, context: _Context) -> Iterator[_Grant]:
    verbs = _verbs(kube.verbs, tier)
    names = tuple(sorted(set(kube.names))) if _all_exact(kube.names) else ()
    for spelled in kube.resources:
        for target in _targets(spelled, context.mapper):
            namespaced = target.namespaced
            if namespaced is None:
                namespaced = kube.namespaces is not None
            scopes: list[str | None] = [None]
            if namespaced:
                scopes = list(_namespaces(kube.namespaces, context))
            for verb in verbs:
                if verb == "create" and not namespaced and tier is ActionTier.SERVICE_MUTATION:
                    continue  # creating a cluster-scoped object is destructive
                which = () if verb in _UNNAMEABLE else names
                for scope in scopes:
                    yield _Grant(scope, target.group, target.resource, verb, which)


def _verbs(declared: list[str], tier: ActionTier) -> tuple[str, ...]:
    verbs = set(KUBE_VERBS) if "*" in declared else set(declared)
    if tier is ActionTier.READ:
        verbs &= set(READ_ONLY)
    elif tier is ActionTier.SERVICE_MUTATION:
        verbs -= _DELETES
    return tuple(v for v in KUBE_VERBS if v in verbs)


def _all_exact(globs: Iterable[str]) -> bool:
    return all(not (_GLOB_CHARS & set(g)) for g in globs)


def _namespaces(globs: list[str] | None, context: _Context) -> Iterator[str]:
    found: set[str] = set()
    for pattern in globs or ["*"]:
        if not (_GLOB_CHARS & set(pattern)):
            found.add(pattern)
            continue
        if context.namespaces is None:
            raise ValueError(
                f"namespace glob {pattern!r} cannot be written in RBAC without a ClusterRole, "
                "which would reach the operator's namespace too; pass namespaces= (the "
                "cluster's namespaces) to expand it, or name the namespaces exactly"
            )
        match = GlobSet.of([pattern])
        found.update(n for n in context.namespaces if match.matches(n))
    found.discard(context.operator_namespace)
    yield from sorted(found)


def _targets(spelled: str, mapper: RestMapper) -> list[_Target]:
    if spelled == "*":
        return _everything(mapper)
    base, _, sub = spelled.partition("/")
    suffix = f"/{sub}" if sub else ""
    found = mapper.resolve(base)
    if found:
        return [_Target(i.group, i.resource + suffix, i.namespaced) for i in found]
    plural, dot, group = base.partition(".")
    if not dot:
        raise ValueError(
            f"resource {spelled!r} is unknown; qualify it with its API group (plural.group)"
        )
    return [_Target(group, plural + suffix, None)]


def _everything(mapper: RestMapper) -> list[_Target]:
    targets = []
    for info in mapper.resources():
        if (info.group, info.resource) == ("", "bindings"):
            continue
        targets.append(_Target(info.group, info.resource, info.namespaced))
        for sub in sorted(info.subresources - _ESCAPES):
            targets.append(_Target(info.group, f"{info.resource}/{sub}", info.namespaced))
    return targets


# ------------------------------------------------------------------------- the never-rules


def _never_filter(grant: _Grant, operator_namespace: str) -> _Grant | None:
    """The grant as RBAC may hold it, or None when no agent may ever have it."""
    base, _, sub = grant.resource.partition("/")
    kind = (grant.group, base)
    if grant.group in FORBIDDEN_GROUPS or grant.namespace == operator_namespace:
        return None
    if (kind, sub) in ((("", "serviceaccounts"), "token"), (("", "namespaces"), "finalize")):
        return None
    if kind in DATA_KINDS and grant.verb in _DELETES:
        return None
    if kind == ("", "secrets") and grant.verb in ("update", "patch"):
        return None
    if kind == ("velero.io", "deletebackuprequests") and grant.verb == "create":
        return None
    if kind == ("", "namespaces") and grant.verb not in READ_ONLY:
        names = tuple(n for n in grant.names if n != operator_namespace)
        return replace(grant, names=names) if names else None
    return grant


def _drop_covered(grants: set[_Grant]) -> set[_Grant]:
    """Without the name-limited grants that an any-name grant already covers."""
    return {g for g in grants if not g.names or replace(g, names=()) not in grants}


# ------------------------------------------------------------------------- manifests


def _labels(name: str, home: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "infraagent",
        "infraagent.io/agent": name,
        "infraagent.io/agent-namespace": home,
    }


def _meta(name: str, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _rules(grants: Iterable[_Grant]) -> list[dict[str, Any]]:
    """Grants as RBAC rules: one per (group, verbs, names), resources merged, all sorted."""
    verbs: dict[tuple[str, str, tuple[str, ...]], set[str]] = defaultdict(set)
    for g in grants:
        verbs[(g.group, g.resource, g.names)].add(g.verb)
    merged: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    for (group, resource, names), vs in verbs.items():
        ordered = tuple(v for v in KUBE_VERBS if v in vs)
        merged[(group, ordered, names)].append(resource)
    rules = []
    for (group, verb_list, names), resources in sorted(merged.items()):
        rule: dict[str, Any] = {
            "apiGroups": [group],
            "resources": sorted(resources),
            "verbs": list(verb_list),
        }
        if names:
            rule["resourceNames"] = list(names)
        rules.append(rule)
    return rules


def _read_rules(mapper: RestMapper) -> list[dict[str, Any]]:
    grants = [
        _Grant(None, info.group, info.resource, verb)
        for info in mapper.resources()
        if info.group in READ_GROUPS and (info.group, info.resource) not in _UNREADABLE
        for verb in READ_ONLY
    ]
    grants += [_Grant(None, "", "pods/log", verb) for verb in READ_ONLY]
    return _rules(grants)


@dataclass(frozen=True, slots=True)
class _Owner:
    """Who the roles are for: the agent's name, namespace, ServiceAccount and labels."""

    name: str
    home: str

    @property
    def labels(self) -> dict[str, str]:
        return _labels(self.name, self.home)

    @property
    def subject(self) -> dict[str, str]:
        account = service_account_name(self.name)
        return {"kind": "ServiceAccount", "name": account, "namespace": self.home}

    def role_name(self, suffix: str = "") -> str:
        return f"infraagent-agent:{self.home}:{self.name}{suffix}"


def _role_pair(
    owner: _Owner, kind: str, role: str, namespace: str | None, rules: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    binding_kind = "RoleBinding" if kind == "Role" else "ClusterRoleBinding"
    return [
        {
            "apiVersion": _RBAC_API,
            "kind": kind,
            "metadata": _meta(role, namespace, owner.labels),
            "rules": rules,
        },
        {
            "apiVersion": _RBAC_API,
            "kind": binding_kind,
            "metadata": _meta(role, namespace, owner.labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [owner.subject],
        },
    ]


def _manifests(
    name: str, home: str, grants: set[_Grant], mapper: RestMapper
) -> list[dict[str, Any]]:
    owner = _Owner(name, home)
    account = service_account_name(name)
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(account, home, owner.labels),
        }
    ]
    out += _role_pair(owner, "ClusterRole", owner.role_name(":read"), None, _read_rules(mapper))
    by_scope: dict[str | None, list[_Grant]] = defaultdict(list)
    for grant in grants:
        by_scope[grant.namespace].append(grant)
    for scope, scoped in by_scope.items():
        if scope is None:
            role = owner.role_name(":cluster")
            out += _role_pair(owner, "ClusterRole", role, None, _rules(scoped))
        else:
            out += _role_pair(owner, "Role", owner.role_name(), scope, _rules(scoped))
    return sorted(out, key=_sort_key)


def _sort_key(manifest: dict[str, Any]) -> tuple[int, str, str]:
    meta = manifest["metadata"]
    return (_KIND_ORDER.index(manifest["kind"]), meta.get("namespace", ""), meta["name"])
