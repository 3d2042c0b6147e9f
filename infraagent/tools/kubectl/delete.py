"""``delete`` and ``replace``: the sub-commands that remove objects.

``delete`` makes one ``delete`` per (type, name); with ``-l``, ``--field-selector`` or
``--all`` and no names, one ``deletecollection`` per type (``--all`` adds the option
``all``); with ``-f -``, one ``delete`` per object of the inline manifest. A type with
neither names nor a selector is refused, as kubectl refuses it. The flags that change the
effect become options, normalised the way kubectl normalises them:

- ``force``; ``grace-period=N`` with the effective grace period (``--now`` is 1,
  ``--grace-period=0`` without ``--force`` is 1, ``--force`` alone is 0);
- ``cascade=orphan`` / ``cascade=foreground`` (background, the default, is not recorded;
  ``--cascade=false`` is orphan, bare ``--cascade`` and ``true`` are background).

``replace -f -`` is an ``update`` per object; ``replace --force`` is a ``delete`` (options
``replace``, ``force``, and ``grace-period=N`` / ``cascade=...`` when given; as in kubectl a
grace period of 0 becomes 1 there) followed by a ``create`` for each object.
"""

from __future__ import annotations

from typing import Final

from infraagent.models.requests import KubeRequest
from infraagent.tools.kubectl.flags import (
    ALL_NAMESPACES,
    FILES,
    GLOBAL,
    SELECT,
    FlagTable,
    boolean,
    go_int,
    optional,
    value,
)
from infraagent.tools.kubectl.manifests import WRITE, for_each, manifest_text
from infraagent.tools.kubectl.targets import Ctx, parse_targets, select, syntax

_CASCADE: Final = {
    "background": "background", "true": "background", "orphan": "orphan",
    "false": "orphan", "foreground": "foreground",
}  # fmt: skip
_REMOVAL: Final = (
    boolean("force"), value("grace-period"), boolean("now"),
    optional("cascade", "background"), boolean("wait"), value("timeout"),
)  # fmt: skip

DELETE_FLAGS: Final = FlagTable.of(
    GLOBAL, ALL_NAMESPACES, SELECT, FILES, _REMOVAL,
    (
        optional("dry-run", "unchanged"), value("output", "o"), boolean("ignore-not-found"),
    ),
)  # fmt: skip
REPLACE_FLAGS: Final = FlagTable.of(WRITE, _REMOVAL)


def _given_grace(ctx: Ctx) -> int:
    """``--grace-period`` or ``--now`` (1) as given; -1 when neither is."""
    text = ctx.args.last("grace-period")
    grace = go_int(text, "grace-period") if text is not None else -1
    if ctx.args.flag("now"):
        if grace != -1:
            raise syntax("--now and --grace-period cannot be specified together")
        grace = 1
    return grace


def _grace_period(ctx: Ctx, force: bool) -> int:
    grace = _given_grace(ctx)
    if grace == 0 and not force:
        grace = 1
    if force and grace < 0:
        grace = 0
    if force and grace > 0:
        raise syntax("--force and --grace-period greater than 0 cannot be specified together")
    return grace


def _cascade(ctx: Ctx) -> set[str]:
    text = ctx.args.last("cascade") or "background"
    cascade = _CASCADE.get(text)
    if cascade is None:
        raise syntax(f"--cascade must be background, foreground or orphan, not {text!r}")
    return set() if cascade == "background" else {f"cascade={cascade}"}


def delete_options(ctx: Ctx) -> frozenset[str]:
    """The options every delete of this command carries."""
    force = ctx.args.flag("force")
    grace = _grace_period(ctx, force)
    options = {"force"} if force else set()
    if grace >= 0:
        options.add(f"grace-period={grace}")
    return frozenset(options | _cascade(ctx))


def _replace_options(ctx: Ctx) -> frozenset[str]:
    """``replace --force``: a plain delete (grace 0 becomes 1, unlike ``delete --force``)."""
    if ctx.dry_run:
        raise syntax("--dry-run cannot be used with replace --force")
    grace = _given_grace(ctx)
    options = {"replace", "force"} | _cascade(ctx)
    if grace >= 0:
        options.add(f"grace-period={max(grace, 1)}")
    return frozenset(options)


def delete(ctx: Ctx) -> list[KubeRequest]:
    """``delete``: by name, by type and selector / ``--all``, or ``-f -``."""
    args = ctx.args
    output = args.last("output")
    if output not in {None, "name"}:
        raise syntax("delete supports only -o name")
    if args.flag("all") and args.has("field-selector"):
        raise syntax("--all and --field-selector cannot be used together")
    options = delete_options(ctx)
    if manifest_text(args, ctx.manifest) is not None:
        if args.has("selector") or args.flag("all") or args.has("field-selector"):
            raise syntax("-f - cannot be combined with -l, --field-selector or --all")
        return for_each(ctx, "delete", body=None, options=options)
    if not args.positionals:
        raise syntax("delete needs TYPE NAME, TYPE/NAME, TYPE with -l / --all, or -f -")
    chosen = select(parse_targets(args.positionals), args, allow_bare_type=False)
    collection = options | chosen.collection_options
    return [
        ctx.req("delete", target.resource, target.name, options=options)
        if target.name
        else ctx.req(
            "deletecollection",
            target.resource,
            label_selector=chosen.selector,
            field_selector=chosen.field_selector,
            options=collection,
        )
        for target in chosen.targets
    ]


def replace(ctx: Ctx) -> list[KubeRequest]:
    """``replace -f -``: update each object; with ``--force`` delete then create it."""
    if not ctx.args.flag("force"):
        if any(ctx.args.has(name) for name in ("grace-period", "now", "cascade", "timeout")):
            raise syntax("--grace-period, --now, --cascade and --timeout need --force")
        return for_each(ctx, "update")
    deletes = for_each(ctx, "delete", body=None, options=_replace_options(ctx))
    creates = for_each(ctx, "create")
    return [request for pair in zip(deletes, creates, strict=True) for request in pair]
