"""The read sub-commands of kubectl and the requests they make.

``get``, ``describe``, ``logs``, ``top``, ``events``, ``explain``, ``api-resources``,
``api-versions``, ``version`` and ``rollout status|history``: each handler takes a parsed
``Ctx`` and returns ``get``/``list``/``watch`` requests. Output flags (``-o``, ``--sort-by``
...) change only how results are printed, so they are accepted but not recorded.

Two pseudo resources stand for reads that are not about objects: ``openapi/v3``
(``explain``) and ``api-discovery`` (``api-resources``, ``api-versions``, ``version``). The
REST mapper does not know them; the engine judges them as reads of unknown resources.
They carry no namespace, whatever ``-n`` says.
This module does not decide whether a read is allowed (reading Secrets, for example, needs
a declaration); the engine does.
"""

from __future__ import annotations

from typing import Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.kubectl.flags import (
    ALL_NAMESPACES,
    FILES,
    GLOBAL,
    PRINT,
    SELECT,
    FlagTable,
    boolean,
    go_int,
    value,
)
from infraagent.tools.kubectl.targets import (
    Ctx,
    check_name,
    no_positionals,
    parse_targets,
    select,
    split_type_name,
    syntax,
)

OPENAPI: Final = "openapi/v3"
DISCOVERY: Final = "api-discovery"
_POD_TYPES: Final = frozenset({"pod", "pods", "po"})
_GET_SUBRESOURCES: Final = frozenset({"status", "scale"})

GET_FLAGS: Final = FlagTable.of(
    GLOBAL, ALL_NAMESPACES, SELECT, PRINT, FILES,
    (
        boolean("watch", "w"), boolean("watch-only"), boolean("output-watch-events"),
        boolean("show-labels"), boolean("no-headers"), value("sort-by"),
        value("label-columns", "L"), value("chunk-size"), boolean("ignore-not-found"),
        boolean("show-kind"), value("subresource"), boolean("server-print"),
    ),
)  # fmt: skip
DESCRIBE_FLAGS: Final = FlagTable.of(
    GLOBAL, ALL_NAMESPACES, FILES,
    (value("selector", "l"), boolean("show-events"), value("chunk-size")),
)  # fmt: skip
LOGS_FLAGS: Final = FlagTable.of(
    GLOBAL,
    (
        value("container", "c"), boolean("all-containers"), boolean("follow", "f"),
        boolean("previous", "p"), value("tail"), value("since"), value("since-time"),
        boolean("timestamps"), boolean("prefix"), value("selector", "l"),
        value("max-log-requests"), value("limit-bytes"), value("pod-running-timeout"),
        boolean("ignore-errors"),
    ),
)  # fmt: skip
_TOP_COMMON: Final = (
    value("selector", "l"), value("sort-by"), boolean("no-headers"),
    boolean("use-protocol-buffers"),
)  # fmt: skip
TOP_POD_FLAGS: Final = FlagTable.of(
    GLOBAL, ALL_NAMESPACES, _TOP_COMMON,
    (boolean("containers"), value("field-selector"), boolean("sum")),
)  # fmt: skip
TOP_NODE_FLAGS: Final = FlagTable.of(GLOBAL, _TOP_COMMON, (boolean("show-capacity"),))
EVENTS_FLAGS: Final = FlagTable.of(
    GLOBAL, ALL_NAMESPACES, PRINT,
    (
        value("for"), value("types"), boolean("watch", "w"), boolean("no-headers"),
        value("chunk-size"),
    ),
)  # fmt: skip
EXPLAIN_FLAGS: Final = FlagTable.of(
    GLOBAL, (boolean("recursive"), value("api-version"), value("output", "o"))
)
API_RESOURCES_FLAGS: Final = FlagTable.of(
    GLOBAL,
    (
        value("api-group"), boolean("cached"), boolean("namespaced"), boolean("no-headers"),
        value("output", "o"), value("sort-by"), value("verbs"), value("categories"),
    ),
)  # fmt: skip
API_VERSIONS_FLAGS: Final = FlagTable.of(GLOBAL)
VERSION_FLAGS: Final = FlagTable.of(GLOBAL, (boolean("client"), value("output", "o")))
ROLLOUT_READ_FLAGS: Final = FlagTable.of(
    GLOBAL, FILES, PRINT,
    (
        value("selector", "l"), value("revision"), boolean("watch", "w"), value("timeout"),
    ),
)  # fmt: skip


def _int_flags(ctx: Ctx, *names: str) -> None:
    for name in names:
        for text in ctx.args.all(name):
            go_int(text, name)


def get(ctx: Ctx) -> list[KubeRequest]:
    """``get``: list without a name, get with one, watch with ``-w``/``--watch-only``."""
    args = ctx.args
    _int_flags(ctx, "chunk-size")
    subresource = args.last("subresource")
    if subresource is not None and subresource not in _GET_SUBRESOURCES:
        raise syntax(f"--subresource must be status or scale, not {subresource!r}")
    chosen = select(parse_targets(args.positionals), args, allow_bare_type=True)
    watch = args.flag("watch") or args.flag("watch-only")
    return [
        ctx.req(
            "watch" if watch else ("get" if target.name else "list"),
            target.resource,
            target.name,
            subresource=subresource,
            label_selector=chosen.selector,
            field_selector=chosen.field_selector,
        )
        for target in chosen.targets
    ]


def describe(ctx: Ctx) -> list[KubeRequest]:
    """``describe``: get with a name (kubectl also tries it as a prefix), else list."""
    _int_flags(ctx, "chunk-size")
    return _get_or_list_targets(ctx)


def _get_or_list_targets(ctx: Ctx) -> list[KubeRequest]:
    """A get of every named target, a list of every bare type."""
    chosen = select(parse_targets(ctx.args.positionals), ctx.args, allow_bare_type=True)
    return [
        ctx.req(
            "get" if target.name else "list",
            target.resource,
            target.name,
            label_selector=chosen.selector,
        )
        for target in chosen.targets
    ]


def logs(ctx: Ctx) -> list[KubeRequest]:
    """``logs POD [CONTAINER]``, ``logs TYPE/NAME`` or ``logs -l SELECTOR``."""
    args = ctx.args
    _int_flags(ctx, "tail", "limit-bytes", "max-log-requests")
    words, selector = args.positionals, args.selector()
    if len(words) > 2 or (selector is not None and words):
        raise syntax("logs takes a pod (and optionally a container) or -l SELECTOR")
    if selector is not None:
        return [
            ctx.req("list", "pods", label_selector=selector),
            ctx.req("get", "pods", subresource="log", label_selector=selector),
        ]
    if not words:
        raise syntax("logs needs a pod name, TYPE/NAME or -l SELECTOR")
    if "/" not in words[0]:
        return [ctx.req("get", "pods", check_name(words[0]), subresource="log")]
    target = split_type_name(words[0])
    if target.resource.lower() in _POD_TYPES:
        return [ctx.req("get", "pods", target.name, subresource="log")]
    return [
        ctx.req("get", target.resource, target.name),
        ctx.req("get", "pods", subresource="log"),
    ]


def _top(ctx: Ctx, resource: str) -> list[KubeRequest]:
    words = ctx.args.positionals
    if len(words) > 1:
        raise syntax("top takes at most one name")
    name = check_name(words[0]) if words else None
    return [
        ctx.req(
            "get" if name else "list",
            resource,
            name,
            label_selector=ctx.args.selector(),
            field_selector=ctx.args.selector("field-selector"),
        )
    ]


def top_pod(ctx: Ctx) -> list[KubeRequest]:
    return _top(ctx, "pods.metrics.k8s.io")


def top_node(ctx: Ctx) -> list[KubeRequest]:
    return _top(ctx, "nodes.metrics.k8s.io")


def events(ctx: Ctx) -> list[KubeRequest]:
    """``events [--for TYPE/NAME] [-w]``: list (or watch) events."""
    no_positionals(ctx.args, "events")
    _int_flags(ctx, "chunk-size")
    about = ctx.args.last("for")
    field_selector, options = None, frozenset[str]()
    if about is not None:
        target = split_type_name(about)
        field_selector = f"involvedObject.name={target.name}"
        options = frozenset({f"for={target.resource}/{target.name}"})
    verb = "watch" if ctx.args.flag("watch") else "list"
    return [ctx.req(verb, "events", field_selector=field_selector, options=options)]


def explain(ctx: Ctx) -> list[KubeRequest]:
    """``explain RESOURCE[.field...]``: a read of the OpenAPI schema."""
    if len(ctx.args.positionals) != 1 or not ctx.args.positionals[0]:
        raise syntax("explain takes exactly one RESOURCE[.field...] argument")
    return [KubeRequest("get", OPENAPI)]


def api_resources(ctx: Ctx) -> list[KubeRequest]:
    """``api-resources``, ``api-versions`` and ``version``: API discovery reads."""
    no_positionals(ctx.args, "this sub-command")
    return [KubeRequest("get", DISCOVERY)]


def rollout_read(ctx: Ctx) -> list[KubeRequest]:
    """``rollout status|history``: reads of the workload (list when only a type is given)."""
    _int_flags(ctx, "revision")
    return _get_or_list_targets(ctx)
