"""``set image``, ``set env`` and ``set resources``: strategic patches of pod templates.

The body puts a ``containers`` list where the resource keeps its pod spec:
``spec.containers`` for pods (``pod``, ``pods``, ``po``), ``spec.jobTemplate.spec.template
.spec.containers`` for cron jobs (``cronjob``, ``cronjobs``, ``cj``) and
``spec.template.spec.containers`` for everything else. Each container entry is named by the
container (``*``, kubectl's default for ``-c``, means every container):

- ``set image TYPE/NAME c=img ...``: ``{"name": c, "image": img}`` per pair;
- ``set env TYPE/NAME K=V K2- [-e K=V] [--from=secret/x|configmap/x [--keys=a,b]
  [--prefix=P]] [-c NAME]``: ``{"name": c, "env": [{"name": K, "value": V}, {"name":
  K2, "$patch": "delete"}]}``; ``--from`` with ``--keys`` adds ``{"name": P+KEY,
  "valueFrom": {"secretKeyRef"|"configMapKeyRef": {"name": x, "key": k}}}`` per key, and
  without ``--keys`` (every key, unknown here) ``"envFrom": [{"secretRef"|"configMapRef":
  {"name": x}, "prefix": P}]``. ``--from`` also makes a ``get`` of that secret or config
  map (kubectl reads it), placed before the patches. ``--list`` is a read of the targets;
  ``--list --resolve`` also lists secrets and config maps (the references are resolved);
  ``--overwrite=false`` adds the option ``overwrite=false``;
- ``set resources TYPE/NAME --limits=cpu=200m,memory=512Mi --requests=...``:
  ``{"name": c, "resources": {"limits": {...}, "requests": {...}}}``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl.flags import FILES, GLOBAL, MUTATE, FlagTable, boolean, file, value
from infraagent.tools.kubectl.targets import (
    Ctx,
    Selection,
    fresh,
    parse_targets,
    patch_targets,
    select,
    split_pairs,
    split_type_name,
    syntax,
)

POD_TYPES: Final = frozenset({"pod", "pods", "po"})
CRONJOB_TYPES: Final = frozenset({"cronjob", "cronjobs", "cj"})
_SOURCES: Final = {
    "secret": ("secretRef", "secretKeyRef"), "secrets": ("secretRef", "secretKeyRef"),
    "configmap": ("configMapRef", "configMapKeyRef"),
    "configmaps": ("configMapRef", "configMapKeyRef"),
    "cm": ("configMapRef", "configMapKeyRef"),
}  # fmt: skip
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_NOT_ENV_CHAR = re.compile(r"[^a-zA-Z0-9_]")

_COMMON: Final = (
    *GLOBAL, *FILES, *MUTATE, value("selector", "l"), boolean("all"), file("local"),
)  # fmt: skip
SET_IMAGE_FLAGS: Final = FlagTable.of(_COMMON)
SET_ENV_FLAGS: Final = FlagTable.of(
    _COMMON,
    (
        value("containers", "c"), value("from"), value("keys"), value("prefix"),
        boolean("list"), boolean("resolve"), boolean("overwrite"), value("env", "e"),
    ),
)  # fmt: skip
SET_RESOURCES_FLAGS: Final = FlagTable.of(
    _COMMON, (value("containers", "c"), value("limits"), value("requests"))
)


def pod_spec_body(resource: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Wrap a pod spec fragment where ``resource`` keeps its pod spec."""
    kind = resource.split(".", 1)[0].lower()
    if kind in POD_TYPES:
        return {"spec": spec}
    if kind in CRONJOB_TYPES:
        return {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}
    return {"spec": {"template": {"spec": spec}}}


def _patch(
    ctx: Ctx, chosen: Selection, container: Any, options: frozenset[str] = frozenset()
) -> list[KubeRequest]:
    def body(resource: str) -> dict[str, Any]:
        return pod_spec_body(resource, {"containers": container()})

    return patch_targets(ctx, chosen, body, "strategic", options=options)


def _chosen(ctx: Ctx, resources: list[str]) -> Selection:
    return select(parse_targets(resources), ctx.args, allow_bare_type=False)


def set_image(ctx: Ctx) -> list[KubeRequest]:
    resources, pairs = split_pairs(ctx.args.positionals, "image")
    images: dict[str, str] = {}
    for pair in pairs:
        name, _, image = pair.partition("=")
        if not name or not image or "=" in image:
            raise syntax(f"{pair!r} is not of the form CONTAINER=IMAGE")
        images[name] = image
    if not images:
        raise syntax("at least one CONTAINER=IMAGE is required")
    chosen = _chosen(ctx, resources)
    return _patch(ctx, chosen, lambda: [{"name": n, "image": i} for n, i in images.items()])


def _env_changes(pairs: list[str]) -> list[dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    for pair in pairs:
        name, eq, text = pair.partition("=")
        name = name if eq else pair[:-1]
        if _ENV_NAME.fullmatch(name) is None:
            raise syntax(f"{name!r} is not a valid environment variable name")
        entries[name] = {"name": name, "value": text} if eq else {"name": name, "$patch": "delete"}
    return list(entries.values())


def _env_source(ctx: Ctx) -> tuple[list[KubeRequest], list[dict[str, Any]], dict[str, Any]]:
    """The read of ``--from`` and the env / envFrom entries it adds."""
    source = ctx.args.last("from")
    if source is None:
        return [], [], {}
    target = split_type_name(source)
    refs = _SOURCES.get(target.resource.lower())
    if refs is None:
        raise syntax("--from must name a secret or a config map (secret/NAME, configmap/NAME)")
    read = ctx.req("get", target.resource, target.name)
    prefix = ctx.args.last("prefix") or ""
    keys = ctx.args.csv("keys")
    if not keys:
        entry: dict[str, Any] = {refs[0]: {"name": target.name}}
        if prefix:
            entry["prefix"] = prefix
        return [read], [], {"envFrom": [entry]}
    env = [
        {
            "name": prefix + _NOT_ENV_CHAR.sub("_", key).upper(),
            "valueFrom": {refs[1]: {"name": target.name, "key": key}},
        }
        for key in keys
    ]
    return [read], env, {}


def _env_list(ctx: Ctx, chosen: Selection) -> list[KubeRequest]:
    reads = [
        ctx.req("get" if t.name else "list", t.resource, t.name, label_selector=chosen.selector)
        for t in chosen.targets
    ]
    if ctx.args.flag("resolve"):
        reads += [ctx.req("list", "secrets"), ctx.req("list", "configmaps")]
    return reads


def set_env(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    if "-" in args.positionals:
        raise ParseError("parse/file-input", "set env cannot read variables from stdin ('-')")
    resources, pairs = split_pairs(args.positionals, "env")
    chosen = _chosen(ctx, resources)
    changes = [*pairs, *args.all("env")]
    if args.flag("list"):
        if changes or args.has("from"):
            raise syntax("--list cannot be combined with changes")
        return _env_list(ctx, chosen)
    reads, from_env, extra = _env_source(ctx)
    env = _env_changes(changes) + from_env
    if not env and not extra:
        raise syntax("at least one environment variable change or --from is required")
    container: dict[str, Any] = {"name": args.last("containers") or "*"}
    if env:
        container["env"] = env
    container.update(extra)
    overwrite = args.has("overwrite") and not args.flag("overwrite")
    options = frozenset({"overwrite=false"}) if overwrite else frozenset()
    return reads + _patch(ctx, chosen, lambda: [fresh(container)], options)


def _quantities(text: str, flag: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in text.split(","):
        name, eq, quantity = item.partition("=")
        if not eq or not name or not quantity:
            raise syntax(f"--{flag} takes NAME=QUANTITY[,NAME=QUANTITY], not {text!r}")
        found[name] = quantity
    return found


def set_resources(ctx: Ctx) -> list[KubeRequest]:
    args = ctx.args
    resources: dict[str, dict[str, str]] = {}
    for flag in ("limits", "requests"):
        text = args.last(flag)
        if text is not None:
            resources[flag] = _quantities(text, flag)
    if not resources:
        raise syntax("set resources needs --limits and/or --requests")
    chosen = _chosen(ctx, args.positionals)
    name = args.last("containers") or "*"
    return _patch(ctx, chosen, lambda: [{"name": name, "resources": fresh(resources)}])
