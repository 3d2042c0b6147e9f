"""Inline manifests: ``apply -f -``, ``create -f -``, ``replace -f -`` and ``delete -f -``.

The only way to pass ``-f`` content is the ``manifest`` field of the tool input; ``-f`` with
a path or URL, ``-f -`` without a manifest, ``-k`` and ``-R`` are refused as
``parse/file-input``. The manifest is a YAML stream (``---`` separated; empty documents are
skipped; ``kind: List`` and other ``...List`` kinds with ``items`` are expanded). Each object
needs ``apiVersion``, ``kind`` and ``metadata.name``, else ``parse/bad-manifest``.

Each object becomes one request whose resource token is ``<Kind>.<version>.<group>``
(``Deployment.v1.apps``; core kinds end with a dot: ``PersistentVolumeClaim.v1.``) so the
REST mapper can resolve it exactly. Its namespace is ``metadata.namespace``, else ``-n``;
both given and different is refused, as kubectl refuses it.

- ``apply``: ``patch`` with ``patch_type="apply"`` and the object as body (``server-side``
  and ``force-conflicts`` recorded in options). ``apply --force`` (delete and re-create on
  conflict) and ``--prune`` (delete what is not in the manifest) are not accepted.
- ``create``: ``create`` with the object as body.
- ``replace``: ``update`` with the object as body; ``replace --force`` is a ``delete``
  (options ``replace``, ``force`` and the grace period / cascade) followed by a ``create``.
- ``delete -f``: a ``delete`` of each object (see ``delete``).
"""

from __future__ import annotations

import re
from typing import Any, Final

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl.documents import DocumentError, load_all
from infraagent.tools.kubectl.flags import (
    FILES,
    GLOBAL,
    MUTATE,
    Args,
    FlagTable,
    boolean,
    optional,
    value,
)
from infraagent.tools.kubectl.targets import Ctx, check_name, check_namespace, syntax

_API_VERSION = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_MAX_LIST_DEPTH: Final = 3
_EDIT_SUBCOMMANDS: Final = frozenset({"edit-last-applied", "set-last-applied"})

WRITE: Final = (*GLOBAL, *MUTATE, *FILES, optional("validate", "strict"), boolean("save-config"))
APPLY_FLAGS: Final = FlagTable.of(
    WRITE,
    (
        boolean("server-side"), boolean("force-conflicts"), boolean("overwrite"),
        boolean("wait"), value("timeout"),
    ),
)  # fmt: skip
CREATE_FILE_FLAGS: Final = FlagTable.of(WRITE)


def bad(reason: str) -> ParseError:
    return ParseError("parse/bad-manifest", reason)


def manifest_text(args: Args, manifest: str | None) -> str | None:
    """The inline manifest when the command says ``-f -``; None when there is no ``-f``."""
    paths = args.all("filename")
    if not paths:
        return None
    if any(path != "-" for path in paths):
        raise ParseError(
            "parse/file-input",
            "-f accepts only '-' (the manifest carried in the tool input), not paths or URLs",
        )
    if len(paths) > 1:
        raise syntax("-f - may be given only once")
    if manifest is None:
        raise ParseError("parse/file-input", "-f - needs the manifest field of the tool input")
    return manifest


def _check_object(doc: dict[str, Any]) -> None:
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or _API_VERSION.fullmatch(api_version) is None:
        raise bad(f"object has no valid apiVersion (got {api_version!r})")
    if not isinstance(kind, str) or _KIND.fullmatch(kind) is None:
        raise bad(f"object has no valid kind (got {kind!r})")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise bad(f"{kind} has no metadata.name (generateName is not supported)")
    namespace = metadata.get("namespace")
    try:
        check_name(metadata["name"], f"{kind} name")
        if namespace is not None:
            check_namespace(namespace if isinstance(namespace, str) else "")
    except ParseError as error:
        raise bad(error.reason) from error


def _flatten(doc: Any, out: list[dict[str, Any]], depth: int) -> None:
    if not isinstance(doc, dict):
        raise bad("every document of the manifest must be an object")
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
        items = doc["items"]
        if not isinstance(items, list) or depth >= _MAX_LIST_DEPTH:
            raise bad(f"{kind} must have a list of items (and not nest too deeply)")
        for item in items:
            _flatten(item, out, depth + 1)
        return
    _check_object(doc)
    out.append(doc)


def objects(text: str) -> list[dict[str, Any]]:
    """The objects of a manifest, Lists expanded; refuses anything incomplete."""
    try:
        documents = load_all(text)
    except DocumentError as error:
        raise bad(f"the manifest is not acceptable: {error}") from error
    found: list[dict[str, Any]] = []
    for doc in documents:
        if doc is not None:
            _flatten(doc, found, 0)
    if not found:
        raise bad("the manifest holds no objects")
    return found


def token(doc: dict[str, Any]) -> str:
    """``<Kind>.<version>.<group>``: ``Deployment.v1.apps``, ``Pod.v1.`` for core kinds."""
    group, _, version = str(doc["apiVersion"]).rpartition("/")
    return f"{doc['kind']}.{version}.{group}"


def namespace_of(doc: dict[str, Any], ctx: Ctx) -> str | None:
    declared = doc["metadata"].get("namespace")
    if declared is not None and ctx.namespace is not None and declared != ctx.namespace:
        raise bad(
            f"{doc['kind']} {doc['metadata']['name']} is in namespace {declared!r} but the "
            f"command says -n {ctx.namespace}"
        )
    return declared if declared is not None else ctx.namespace


def for_each(ctx: Ctx, verb: str, **extra: Any) -> list[KubeRequest]:
    """One request per object of the command's manifest (body = the object unless given)."""
    text = manifest_text(ctx.args, ctx.manifest)
    if text is None:
        raise syntax("this sub-command needs -f - with the manifest field")
    if ctx.args.positionals:
        raise syntax("resource arguments cannot be combined with -f")
    requests = []
    for doc in objects(text):
        fields = {"body": doc, **extra}
        fields["namespace"] = namespace_of(doc, ctx)
        requests.append(ctx.req(verb, token(doc), doc["metadata"]["name"], **fields))
    return requests


def apply(ctx: Ctx) -> list[KubeRequest]:
    words = ctx.args.positionals
    if words and words[0] in _EDIT_SUBCOMMANDS:
        raise ParseError("parse/forbidden-subcommand", f"apply {words[0]} is not allowed")
    if words and words[0] == "view-last-applied":
        raise ParseError("parse/unknown-subcommand", "apply view-last-applied is not supported")
    flags = ("server-side", "force-conflicts")
    options = frozenset(name for name in flags if ctx.args.flag(name))
    return for_each(ctx, "patch", patch_type="apply", options=options)


def create_from_file(ctx: Ctx) -> list[KubeRequest]:
    if not ctx.args.has("filename"):
        raise syntax("create needs a kind (create deployment ...) or -f - with a manifest")
    return for_each(ctx, "create")
