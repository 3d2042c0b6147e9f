"""What a kubectl sub-command acts on: resource arguments, selectors and the request scope.

``Ctx`` carries one parsed command (its flags, namespace, ``-A``, dry-run, the inline
manifest) and builds ``KubeRequest``s that inherit that scope; building it validates what
every sub-command shares (``-n`` is a valid namespace name, ``--dry-run`` and ``-v`` values,
and ``-o``/``--template``, whose ``-file`` formats would read local files). ``parse_targets`` reads
resource arguments the way kubectl's resource builder does (``TYPE NAME...``,
``TYPE/NAME...``, ``TYPE1,TYPE2 [NAME...]``, qualified types such as ``deploy.apps`` or
``deployments.v1.apps``) and ``select`` applies kubectl's rules for combining names with
``-l``, ``--field-selector`` and ``--all``. ``split_pairs`` separates resource arguments
from ``key=value`` / ``key-`` arguments as ``label``, ``annotate``, ``set`` and ``taint`` do.
Blank selectors count as absent, as in kubectl (never as "match everything").

Resource types are kept exactly as written; nothing here resolves or validates a type
(the REST mapper does that later).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl.flags import Args, go_int

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_TEMPLATE_OUTPUTS: Final = frozenset({"go-template", "template", "jsonpath", "jsonpath-as-json"})
_OUTPUTS: Final = _TEMPLATE_OUTPUTS | {
    "json", "yaml", "wide", "name", "custom-columns", "kyaml", "plaintext", "plaintext-openapiv2",
}  # fmt: skip
_DRY_RUN: Final = {
    "unchanged": True, "client": True, "server": True, "none": False,
    "true": True, "false": False, "1": True, "0": False, "t": True, "f": False,
    "TRUE": True, "FALSE": False, "True": True, "False": False, "T": True, "F": False,
}  # fmt: skip


def syntax(reason: str) -> ParseError:
    return ParseError("parse/syntax", reason)


def check_name(name: str, what: str = "name") -> str:
    """Refuse names that cannot be a path segment of an API URL (as kubectl does)."""
    if not name or name in {".", ".."} or "/" in name or "%" in name:
        raise syntax(f"{what} {name!r} is not a valid object name")
    return name


def check_namespace(namespace: str) -> str:
    if _DNS_LABEL.fullmatch(namespace) is None:
        raise syntax(f"namespace {namespace!r} is not a valid namespace name")
    return namespace


def check_output(args: Args) -> None:
    """Refuse output formats that read local files and templates of unclear kind.

    ``-o go-template-file=PATH`` (and ``templatefile``, ``jsonpath-file``,
    ``custom-columns-file``) makes kubectl read PATH. ``--template`` is a template string
    only with ``-o go-template``, ``template`` or ``jsonpath``; with a ``-file`` format it
    is a path, and without ``-o`` its kind is a guess, so it is refused there.
    """
    for given in args.all("output"):  # every value, not only the last: a later -o must not hide one
        kind_of = given.partition("=")[0]
        if kind_of.endswith("-file") or kind_of == "templatefile":
            raise ParseError("parse/file-input", f"-o {kind_of} reads a local file")
        if kind_of not in _OUTPUTS:
            raise syntax(f"unknown output format {kind_of!r}")
    output = args.last("output")
    kind = output.partition("=")[0] if output is not None else None
    if args.has("template") and kind not in _TEMPLATE_OUTPUTS:
        raise syntax("--template needs -o go-template, template or jsonpath")


def dry_run_of(args: Args) -> bool:
    text = args.last("dry-run")
    if text is None:
        return False
    found = _DRY_RUN.get(text)
    if found is None:
        raise syntax(f"--dry-run must be none, client or server, not {text!r}")
    return found


@dataclass(slots=True)
class Ctx:
    """One parsed sub-command: its arguments, scope and inline manifest."""

    args: Args
    namespace: str | None
    all_namespaces: bool
    dry_run: bool
    manifest: str | None

    @staticmethod
    def of(args: Args, manifest: str | None) -> Ctx:
        for verbosity in args.all("v"):
            go_int(verbosity, "v", minimum=0)
        check_output(args)
        namespace = args.last("namespace")
        return Ctx(
            args=args,
            namespace=check_namespace(namespace) if namespace is not None else None,
            all_namespaces=args.flag("all-namespaces"),
            dry_run=dry_run_of(args),
            manifest=manifest,
        )

    def req(self, verb: str, resource: str, name: str | None = None, **extra: Any) -> KubeRequest:
        """A request in this command's namespace, ``-A`` and dry-run scope."""
        extra.setdefault("namespace", self.namespace)
        extra.setdefault("all_namespaces", self.all_namespaces)
        extra.setdefault("dry_run", self.dry_run)
        return KubeRequest(verb=verb, resource=resource, name=name, **extra)


@dataclass(frozen=True, slots=True)
class Target:
    resource: str
    name: str | None


def fresh(item: Any) -> Any:
    """A deep copy of plain JSON data, so that every request owns its body."""
    if isinstance(item, dict):
        return {key: fresh(child) for key, child in item.items()}
    if isinstance(item, list):
        return [fresh(child) for child in item]
    return item


def split_types(text: str) -> list[str]:
    """``pods,svc`` → ``[pods, svc]`` (duplicates dropped, empty types refused)."""
    types = list(dict.fromkeys(text.split(",")))
    if "" in types:
        raise syntax(f"resource type list {text!r} has an empty entry")
    return types


def split_type_name(text: str) -> Target:
    """``TYPE/NAME`` → Target; refuses empty parts, several slashes or several types."""
    kind, _, name = text.partition("/")
    if not kind or not name or "/" in name or "," in kind:
        raise syntax(f"{text!r} is not of the form TYPE/NAME with a single type and name")
    return Target(kind, check_name(name))


def parse_targets(words: Sequence[str]) -> list[Target]:
    """Resource arguments → targets (``name`` None means the whole collection)."""
    if not words:
        return []
    slashed = sum(1 for word in words if "/" in word)
    if slashed == len(words):
        return [split_type_name(word) for word in words]
    if slashed:
        raise syntax(
            "there is no need to give a resource type as a separate argument when passing "
            "arguments in TYPE/NAME form"
        )
    types = split_types(words[0])
    names = [check_name(name) for name in words[1:]]
    if not names:
        return [Target(kind, None) for kind in types]
    return [Target(kind, name) for kind in types for name in names]


@dataclass(frozen=True, slots=True)
class Selection:
    targets: list[Target]
    selector: str | None
    field_selector: str | None
    everything: bool  # ``--all``

    @property
    def collection_options(self) -> frozenset[str]:
        """``all`` when a collection request is not narrowed by any selector."""
        narrowed = self.selector is not None or self.field_selector is not None
        return frozenset({"all"}) if self.everything or not narrowed else frozenset()


def select(targets: list[Target], args: Args, *, allow_bare_type: bool) -> Selection:
    """Combine targets with ``-l``, ``--field-selector`` and ``--all`` as kubectl does.

    ``allow_bare_type``: a type without names and without a selector means every object of
    that type (``get pods``, ``rollout restart deployment``); otherwise kubectl refuses it.
    """
    selector, field_selector = args.selector(), args.selector("field-selector")
    everything = args.flag("all")
    if not targets:
        raise syntax("a resource type is required")
    named = targets[0].name is not None
    if everything and selector is not None:
        raise syntax("--all cannot be combined with a label selector")
    if named and (everything or selector is not None or field_selector is not None):
        raise syntax("names cannot be given together with -l, --field-selector or --all")
    if not named and not (allow_bare_type or everything or selector or field_selector):
        raise syntax("resource(s) were provided, but no name was specified (or -l / --all)")
    return Selection(targets, selector, field_selector, everything)


def split_pairs(
    words: Sequence[str], what: str, *, taints: bool = False
) -> tuple[list[str], list[str]]:
    """Separate resource arguments from ``k=v`` / ``k-`` arguments (kubectl's rule).

    With ``taints``, words with ``:`` are changes too and ``=``/``-`` need not be inside.
    """
    resources: list[str] = []
    pairs: list[str] = []
    for word in words:
        if taints:
            pair = "=" in word or ":" in word or word.endswith("-")
        else:
            pair = ("=" in word and word[0] != "=") or (word.endswith("-") and word != "-")
        if pair:
            pairs.append(word)
        elif pairs:
            raise syntax(f"all resources must be given before the {what} changes: {word!r}")
        else:
            resources.append(word)
    return resources, pairs


def no_positionals(args: Args, command: str) -> None:
    if args.positionals:
        raise syntax(f"{command} takes no arguments, got {args.positionals!r}")


def patch_targets(
    ctx: Ctx,
    chosen: Selection,
    body_for: Callable[[str], Any],
    patch_type: str,
    *,
    options: frozenset[str] = frozenset(),
    subresource: str | None = None,
) -> list[KubeRequest]:
    """One ``patch`` per target; ``body_for(resource type)`` builds a fresh body for each.

    A target without a name is a patch of every object the selection matches (options gain
    ``all`` when no selector narrows it).
    """
    return [
        ctx.req(
            "patch",
            target.resource,
            target.name,
            subresource=subresource,
            body=body_for(target.resource),
            patch_type=patch_type,
            label_selector=None if target.name else chosen.selector,
            field_selector=None if target.name else chosen.field_selector,
            options=options if target.name else options | chosen.collection_options,
        )
        for target in chosen.targets
    ]
