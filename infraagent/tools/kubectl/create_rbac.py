"""``create role|clusterrole|rolebinding|clusterrolebinding``: RBAC objects from flags.

The engine denies every RBAC mutation (self-protection); these bodies exist so the ledger
and the proposal say exactly what was asked for.

- ``role NAME --verb=V... --resource=R[.group][/sub]... [--resource-name=N...]``: one rule
  per resource, ``{"apiGroups": [group], "resources": [R[/sub]], "verbs": [...],
  "resourceNames"?: [...]}``;
- ``clusterrole`` the same, plus ``--non-resource-url`` (one rule with
  ``nonResourceURLs``) and ``--aggregation-rule=k=v,...`` (``aggregationRule``);
- ``rolebinding NAME --role=R|--clusterrole=R`` and ``clusterrolebinding NAME
  --clusterrole=R`` with ``--user``, ``--group`` and ``--serviceaccount=NS:NAME`` subjects.
  Their ``--user`` is the subject flag kubectl defines for these two sub-commands (it
  shadows the global identity flag), so it is accepted here and only here.
"""

from __future__ import annotations

from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.kubectl.create import created, key_values, metadata, single_name, table
from infraagent.tools.kubectl.flags import value
from infraagent.tools.kubectl.targets import Ctx, syntax

_RBAC: Final = "rbac.authorization.k8s.io"
_RBAC_VERSION: Final = f"{_RBAC}/v1"

ROLE_FLAGS: Final = table(value("verb"), value("resource"), value("resource-name"))
CLUSTERROLE_FLAGS: Final = table(
    value("verb"), value("resource"), value("resource-name"), value("non-resource-url"),
    value("aggregation-rule"),
)  # fmt: skip
_SUBJECT_FLAGS: Final = (value("user"), value("group"), value("serviceaccount"))
ROLEBINDING_FLAGS: Final = table(value("role"), value("clusterrole"), *_SUBJECT_FLAGS)
CLUSTERROLEBINDING_FLAGS: Final = table(value("clusterrole"), *_SUBJECT_FLAGS)


def _resource_rules(ctx: Ctx, verbs: list[str]) -> list[dict[str, Any]]:
    names = ctx.args.all("resource-name")
    rules: list[dict[str, Any]] = []
    for token in ctx.args.csv("resource"):
        base, slash, sub = token.partition("/")
        resource, _, group = base.partition(".")
        if not resource or (slash and not sub):
            raise syntax(f"--resource {token!r} is not RESOURCE[.GROUP][/SUBRESOURCE]")
        rule: dict[str, Any] = {
            "apiGroups": [group],
            "resources": [f"{resource}/{sub}" if sub else resource],
            "verbs": list(verbs),
        }
        if names:
            rule["resourceNames"] = list(names)
        rules.append(rule)
    return rules


def _verbs(ctx: Ctx) -> list[str]:
    verbs = ctx.args.csv("verb")
    if not verbs or "" in verbs:
        raise syntax("at least one --verb is required")
    return verbs


def role(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "role")
    rules = _resource_rules(ctx, _verbs(ctx))
    if not rules:
        raise syntax("create role needs at least one --resource")
    body = {"apiVersion": _RBAC_VERSION, "kind": "Role", "metadata": metadata(ctx, name)}
    return created(ctx, f"Role.v1.{_RBAC}", {**body, "rules": rules})


def clusterrole(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    name = single_name(ctx, "clusterrole")
    meta = metadata(ctx, name, namespaced=False)
    body: dict[str, Any] = {"apiVersion": _RBAC_VERSION, "kind": "ClusterRole", "metadata": meta}
    aggregation = args.last("aggregation-rule")
    if aggregation:
        labels = key_values(aggregation.split(","), "aggregation-rule")
        body["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": labels}]}
        return created(ctx, f"ClusterRole.v1.{_RBAC}", body)
    verbs = _verbs(ctx)
    rules = _resource_rules(ctx, verbs)
    urls = args.csv("non-resource-url")
    if urls:
        rules.append({"nonResourceURLs": urls, "verbs": list(verbs)})
    if not rules:
        raise syntax(
            "create clusterrole needs --resource, --non-resource-url or --aggregation-rule"
        )
    return created(ctx, f"ClusterRole.v1.{_RBAC}", {**body, "rules": rules})


def _subjects(ctx: Ctx) -> list[dict[str, str]]:
    args = ctx.args
    subjects = [{"kind": "User", "apiGroup": _RBAC, "name": user} for user in args.all("user")]
    subjects += [{"kind": "Group", "apiGroup": _RBAC, "name": group} for group in args.all("group")]
    for account in args.all("serviceaccount"):
        namespace, colon, name = account.partition(":")
        if not colon or not namespace or not name:
            raise syntax(f"--serviceaccount must be NAMESPACE:NAME, not {account!r}")
        subjects.append({"kind": "ServiceAccount", "namespace": namespace, "name": name})
    return subjects


def _role_ref(ctx: Ctx, *, cluster_only: bool) -> dict[str, str]:
    roles = [
        (kind, ctx.args.last(flag))
        for kind, flag in (("Role", "role"), ("ClusterRole", "clusterrole"))
    ]
    given = [(kind, name) for kind, name in roles if name]
    if len(given) != 1 or (cluster_only and given[0][0] != "ClusterRole"):
        flags = "--clusterrole" if cluster_only else "exactly one of --role or --clusterrole"
        raise syntax(f"a binding needs {flags}")
    kind, name = given[0]
    return {"apiGroup": _RBAC, "kind": kind, "name": name or ""}


def rolebinding(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "rolebinding")
    body = {
        "apiVersion": _RBAC_VERSION,
        "kind": "RoleBinding",
        "metadata": metadata(ctx, name),
        "roleRef": _role_ref(ctx, cluster_only=False),
        "subjects": _subjects(ctx),
    }
    return created(ctx, f"RoleBinding.v1.{_RBAC}", body)


def clusterrolebinding(ctx: Ctx) -> list[KubeRequest]:
    name = single_name(ctx, "clusterrolebinding")
    body = {
        "apiVersion": _RBAC_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": metadata(ctx, name, namespaced=False),
        "roleRef": _role_ref(ctx, cluster_only=True),
        "subjects": _subjects(ctx),
    }
    return created(ctx, f"ClusterRoleBinding.v1.{_RBAC}", body)
