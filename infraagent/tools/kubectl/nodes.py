"""Node sub-commands: ``cordon``, ``uncordon``, ``drain`` and ``taint``.

- ``cordon`` / ``uncordon NODE...`` (or ``-l``): strategic patch of ``nodes``,
  ``{"spec": {"unschedulable": true|false}}``.
- ``drain NODE...``: per node, that cordon patch (options ``drain``), then the pods it
  would remove: a ``create`` on ``pods`` subresource ``eviction`` with ``name`` None,
  ``all_namespaces`` True, ``field_selector`` ``spec.nodeName=<NODE>`` (``--pod-selector``
  as the label selector) and options ``drain`` plus ``force``, ``ignore-daemonsets``,
  ``delete-emptydir-data``, ``grace-period=N`` as given; body ``{"apiVersion":
  "policy/v1", "kind": "Eviction"}`` (with ``deleteOptions.gracePeriodSeconds``). With
  ``--disable-eviction`` the pods are deleted instead: a ``deletecollection`` of ``pods``
  with the same scope (option ``disable-eviction``). ``drain -l SELECTOR`` cannot name the
  node, so the pod request has no node field selector (every node's pods) and the option
  ``node-selector=SELECTOR``.
- ``taint nodes NODE... key=value:Effect key:Effect- key-``: strategic patch of ``nodes``,
  ``{"spec": {"taints": [...]}}`` where added taints are ``{"key", "value"?, "effect"}``
  and removed ones ``{"key", "effect"?, "$patch": "delete"}``; adding a ``NoExecute``
  taint (which evicts running pods) adds the option ``taint-effect=NoExecute``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.kubectl.flags import (
    GLOBAL,
    MUTATE,
    FlagTable,
    boolean,
    go_int,
    optional,
    value,
)
from infraagent.tools.kubectl.targets import (
    Ctx,
    Selection,
    Target,
    check_name,
    patch_targets,
    split_pairs,
    syntax,
)

_EFFECTS: Final = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"})
_NODE_TYPES: Final = frozenset({"node", "nodes"})
_TAINT_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_TAINT_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")
_DRAIN_OPTIONS: Final = ("force", "ignore-daemonsets", "delete-emptydir-data", "disable-eviction")

CORDON_FLAGS: Final = FlagTable.of(
    GLOBAL, (value("selector", "l"), optional("dry-run", "unchanged"))
)
DRAIN_FLAGS: Final = FlagTable.of(
    GLOBAL,
    (
        value("selector", "l"), optional("dry-run", "unchanged"), boolean("force"),
        boolean("ignore-daemonsets"), boolean("delete-emptydir-data"),
        boolean("delete-local-data"), boolean("disable-eviction"), value("grace-period"),
        value("timeout"), value("pod-selector"), value("skip-wait-for-delete-timeout"),
        value("chunk-size"),
    ),
)  # fmt: skip
TAINT_FLAGS: Final = FlagTable.of(
    GLOBAL, MUTATE,
    (value("selector", "l"), boolean("all"), boolean("overwrite")),
)  # fmt: skip


def _nodes(names: list[str], selector: str | None, everything: bool = False) -> Selection:
    if names and (selector is not None or everything):
        raise syntax("cannot give both node names and --selector / --all")
    if not names and selector is None and not everything:
        raise syntax("give at least one node name, or --selector")
    targets = [Target("nodes", check_name(name)) for name in names] or [Target("nodes", None)]
    return Selection(targets, selector, None, everything)


def _unschedulable(flag: bool) -> Any:
    return lambda _: {"spec": {"unschedulable": flag}}


def cordon(ctx: Ctx) -> list[KubeRequest]:
    chosen = _nodes(ctx.args.positionals, ctx.args.selector())
    return patch_targets(ctx, chosen, _unschedulable(True), "strategic")


def uncordon(ctx: Ctx) -> list[KubeRequest]:
    chosen = _nodes(ctx.args.positionals, ctx.args.selector())
    return patch_targets(ctx, chosen, _unschedulable(False), "strategic")


def _drain_options(ctx: Ctx) -> tuple[frozenset[str], dict[str, Any]]:
    args = ctx.args
    for name in ("skip-wait-for-delete-timeout", "chunk-size"):
        if args.has(name):
            go_int(args.last(name) or "", name)
    options = {"drain", *(name for name in _DRAIN_OPTIONS if args.flag(name))}
    if args.flag("delete-local-data"):
        options.add("delete-emptydir-data")
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction"}
    grace_text = args.last("grace-period")
    grace = go_int(grace_text, "grace-period") if grace_text is not None else -1
    if grace >= 0:
        options.add(f"grace-period={grace}")
        body["deleteOptions"] = {"gracePeriodSeconds": grace}
    selector = args.selector()
    if selector is not None:
        options.add(f"node-selector={selector}")
    return frozenset(options), body


def drain(ctx: Ctx) -> list[KubeRequest]:
    """``drain``: cordon each node, then evict (or delete) every pod on it."""
    chosen = _nodes(ctx.args.positionals, ctx.args.selector())
    options, body = _drain_options(ctx)
    cordons = patch_targets(
        ctx, chosen, _unschedulable(True), "strategic", options=frozenset({"drain"})
    )
    requests: list[KubeRequest] = []
    for node, cordon_request in zip(chosen.targets, cordons, strict=True):
        scope: dict[str, Any] = {
            "all_namespaces": True,
            "namespace": None,
            "field_selector": f"spec.nodeName={node.name}" if node.name else None,
            "label_selector": ctx.args.selector("pod-selector"),
            "options": options,
        }
        pods = (
            ctx.req("deletecollection", "pods", **scope)
            if "disable-eviction" in options
            else ctx.req("create", "pods", subresource="eviction", body=dict(body), **scope)
        )
        requests += [cordon_request, pods]
    return requests


def _taint(spec: str, removing: bool) -> dict[str, str]:
    text = spec[:-1] if removing else spec
    key_value, colon, effect = text.partition(":")
    key, eq, taint_value = key_value.partition("=")
    if ":" in effect or "=" in taint_value or (colon and effect not in _EFFECTS):
        raise syntax(f"invalid taint {spec!r}: effect must be one of {sorted(_EFFECTS)}")
    if not removing and not colon:
        raise syntax(f"taint {spec!r} needs an effect (key=value:Effect)")
    if _TAINT_KEY.fullmatch(key) is None or _TAINT_VALUE.fullmatch(taint_value) is None:
        raise syntax(f"invalid taint key or value in {spec!r}")
    if removing and eq:
        raise syntax(f"a taint removal names only key[:Effect], not a value: {spec!r}")
    taint = {"key": key}
    if taint_value:
        taint["value"] = taint_value
    if effect:
        taint["effect"] = effect
    if removing:
        taint["$patch"] = "delete"
    return taint


def _taints(specs: list[str]) -> list[dict[str, str]]:
    taints = [_taint(spec, spec.endswith("-")) for spec in specs]
    added = {(t["key"], t.get("effect")) for t in taints if "$patch" not in t}
    for taint in taints:
        if "$patch" in taint and any(
            key == taint["key"] and taint.get("effect") in {None, effect} for key, effect in added
        ):
            raise syntax(f"taint {taint['key']!r} cannot be both added and removed")
    return taints


def taint(ctx: Ctx) -> list[KubeRequest]:
    """``taint nodes NODE... SPEC...`` (or ``-l`` / ``--all`` instead of names)."""
    args = ctx.args
    resources, specs = split_pairs(args.positionals, "taint", taints=True)
    if not resources or resources[0].lower() not in _NODE_TYPES:
        raise syntax("taint works only on nodes: taint nodes NODE key=value:Effect")
    if not specs:
        raise syntax("at least one taint update is required")
    chosen = _nodes(resources[1:], args.selector(), args.flag("all"))
    taints = _taints(specs)
    options = {"overwrite"} if args.flag("overwrite") else set()
    if any(t.get("effect") == "NoExecute" and "$patch" not in t for t in taints):
        options.add("taint-effect=NoExecute")
    return patch_targets(
        ctx,
        chosen,
        lambda _: {"spec": {"taints": [dict(t) for t in taints]}},
        "strategic",
        options=frozenset(options),
    )
