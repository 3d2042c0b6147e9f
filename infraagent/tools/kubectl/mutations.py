"""Patch-shaped mutations: ``rollout restart|pause|resume|undo``, ``scale``, ``annotate``,
``label`` and ``patch``.

Each becomes one ``patch`` per target whose body says what changes (the engine inspects
bodies):

- ``rollout restart``: strategic, ``{"spec": {"template": {"metadata": {"annotations":
  {"kubectl.kubernetes.io/restartedAt": "now"}}}}}`` (a fixed placeholder, so the result
  is deterministic; kubectl writes the current time);
- ``rollout pause`` / ``resume``: strategic, ``{"spec": {"paused": true|false}}``;
- ``rollout undo [--to-revision=N]``: strategic, ``{"rollback": {"toRevision": N}}`` with
  0 meaning the previous revision, options ``undo``; the real patch (the old pod
  template) is only known on the server;
- ``scale``: merge patch of the ``scale`` subresource, ``{"spec": {"replicas": N}}``,
  options ``current-replicas=M`` / ``resource-version=V`` when given;
- ``annotate`` / ``label``: merge, ``{"metadata": {"annotations"|"labels": {k: v, k2: None}}}``
  (None removes), options ``overwrite`` and ``resource-version=V``; ``--list`` is a read;
- ``patch``: the parsed ``-p`` document (a list of operations for ``--type=json``) with
  ``patch_type`` strategic (default), merge or json, and ``--subresource`` status|scale.

A type with ``-l``/``--all`` (or, for ``rollout``, a bare type, which kubectl applies to
every object of that type) patches a collection: ``name`` None with the selector, plus the
option ``all`` when no selector narrows it.
"""

from __future__ import annotations

import re
from typing import Any, Final

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl.documents import DocumentError, load_one
from infraagent.tools.kubectl.flags import (
    ALL_NAMESPACES,
    FILES,
    GLOBAL,
    MUTATE,
    SELECT,
    FlagTable,
    boolean,
    file,
    go_int,
    value,
)
from infraagent.tools.kubectl.targets import (
    Ctx,
    fresh,
    parse_targets,
    patch_targets,
    select,
    split_pairs,
    syntax,
)

RESTARTED_AT: Final = "now"
_JSON_OPS: Final = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_PATCH_TYPES: Final = frozenset({"strategic", "merge", "json"})
_SUBRESOURCES: Final = frozenset({"status", "scale"})
_QUALIFIED_NAME = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?")

ROLLOUT_WRITE_FLAGS: Final = FlagTable.of(GLOBAL, FILES, MUTATE, (value("selector", "l"),))
UNDO_FLAGS: Final = FlagTable.of(
    GLOBAL, FILES, MUTATE, (value("selector", "l"), value("to-revision"))
)
SCALE_FLAGS: Final = FlagTable.of(
    GLOBAL, FILES, MUTATE,
    (
        value("selector", "l"), boolean("all"), value("replicas"), value("current-replicas"),
        value("resource-version"), value("timeout"),
    ),
)  # fmt: skip
METADATA_FLAGS: Final = FlagTable.of(
    GLOBAL, ALL_NAMESPACES, SELECT, FILES, MUTATE,
    (boolean("overwrite"), boolean("list"), file("local"), value("resource-version")),
)  # fmt: skip
PATCH_FLAGS: Final = FlagTable.of(
    GLOBAL, FILES, MUTATE,
    (
        value("patch", "p"), file("patch-file"), value("type"), value("subresource"),
        file("local"),
    ),
)  # fmt: skip


def _rollout(
    ctx: Ctx, body: dict[str, Any], options: frozenset[str] = frozenset()
) -> list[KubeRequest]:
    chosen = select(parse_targets(ctx.args.positionals), ctx.args, allow_bare_type=True)
    return patch_targets(ctx, chosen, lambda _: fresh(body), "strategic", options=options)


def rollout_restart(ctx: Ctx) -> list[KubeRequest]:
    annotations = {"kubectl.kubernetes.io/restartedAt": RESTARTED_AT}
    return _rollout(ctx, {"spec": {"template": {"metadata": {"annotations": annotations}}}})


def rollout_pause(ctx: Ctx) -> list[KubeRequest]:
    return _rollout(ctx, {"spec": {"paused": True}})


def rollout_resume(ctx: Ctx) -> list[KubeRequest]:
    return _rollout(ctx, {"spec": {"paused": False}})


def rollout_undo(ctx: Ctx) -> list[KubeRequest]:
    text = ctx.args.last("to-revision")
    revision = go_int(text, "to-revision", minimum=0) if text is not None else 0
    return _rollout(ctx, {"rollback": {"toRevision": revision}}, frozenset({"undo"}))


def scale(ctx: Ctx) -> list[KubeRequest]:
    """``scale --replicas=N``: a merge patch of the scale subresource."""
    args = ctx.args
    text = args.last("replicas")
    if text is None:
        raise syntax("scale needs --replicas=COUNT")
    replicas = go_int(text, "replicas", minimum=0)
    options: set[str] = set()
    current = args.last("current-replicas")
    if current is not None and go_int(current, "current-replicas", minimum=-1) >= 0:
        options.add(f"current-replicas={go_int(current, 'current-replicas')}")
    version = args.last("resource-version")
    if version:
        options.add(f"resource-version={version}")
    chosen = select(parse_targets(args.positionals), args, allow_bare_type=False)
    body = {"spec": {"replicas": replicas}}
    return patch_targets(
        ctx, chosen, lambda _: fresh(body), "merge", options=frozenset(options), subresource="scale"
    )


def _changes(pairs: list[str], *, labels: bool) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    removed: list[str] = []
    for pair in pairs:
        key, eq, text = pair.partition("=")
        if not eq:
            key = pair[:-1]
        if _QUALIFIED_NAME.fullmatch(key) is None:
            raise syntax(f"{key!r} is not a valid label or annotation key")
        if not eq:
            removed.append(key)
        elif labels and ("=" in text or _LABEL_VALUE.fullmatch(text) is None):
            raise syntax(f"{text!r} is not a valid label value")
        else:
            changes[key] = text
    if any(key in changes for key in removed):
        raise syntax("a key cannot be both modified and removed in the same command")
    changes.update(dict.fromkeys(removed))
    return changes


def _metadata(ctx: Ctx, field: str) -> list[KubeRequest]:
    args = ctx.args
    resources, pairs = split_pairs(args.positionals, field[:-1])
    chosen = select(parse_targets(resources), args, allow_bare_type=False)
    if args.flag("list"):
        if pairs:
            raise syntax("--list cannot be combined with changes")
        return [
            ctx.req("get" if t.name else "list", t.resource, t.name, label_selector=chosen.selector)
            for t in chosen.targets
        ]
    if not pairs:
        raise syntax(f"at least one {field[:-1]} update is required")
    changes = _changes(pairs, labels=field == "labels")
    options = {"overwrite"} if args.flag("overwrite") else set()
    version = args.last("resource-version")
    if version:
        options.add(f"resource-version={version}")
    return patch_targets(
        ctx,
        chosen,
        lambda _: {"metadata": {field: dict(changes)}},
        "merge",
        options=frozenset(options),
    )


def annotate(ctx: Ctx) -> list[KubeRequest]:
    return _metadata(ctx, "annotations")


def label(ctx: Ctx) -> list[KubeRequest]:
    return _metadata(ctx, "labels")


def load_patch(text: str, patch_type: str) -> Any:
    """Parse a ``-p`` document (JSON or YAML); a json patch must be a list of operations."""
    try:
        body = load_one(text)
    except DocumentError as error:
        raise ParseError("parse/bad-patch", f"the patch is not acceptable: {error}") from error
    if patch_type == "json":
        valid = isinstance(body, list) and all(
            isinstance(op, dict) and op.get("op") in _JSON_OPS and isinstance(op.get("path"), str)
            for op in body
        )
        if not valid:
            raise ParseError("parse/bad-patch", "a json patch must be a list of operations")
    elif not isinstance(body, dict):
        raise ParseError("parse/bad-patch", f"a {patch_type} patch must be a JSON/YAML object")
    return body


def patch(ctx: Ctx) -> list[KubeRequest]:
    """``patch TYPE NAME -p DOC [--type strategic|merge|json] [--subresource status|scale]``."""
    args = ctx.args
    patch_type = args.last("type") or "strategic"
    if patch_type not in _PATCH_TYPES:
        raise syntax(f"--type must be strategic, merge or json, not {patch_type!r}")
    text = args.last("patch")
    if text is None:
        raise syntax("patch needs -p/--patch with the patch document")
    subresource = args.last("subresource")
    if subresource is not None and subresource not in _SUBRESOURCES:
        raise syntax(f"--subresource must be status or scale, not {subresource!r}")
    body = load_patch(text, patch_type)
    chosen = select(parse_targets(args.positionals), args, allow_bare_type=False)
    return patch_targets(ctx, chosen, lambda _: fresh(body), patch_type, subresource=subresource)
