"""The kubectl tool's parser: a kubectl command line → canonical, unresolved ``KubeRequest``s.

``parse_kubectl(command, manifest)`` is the whole public surface. ``command`` holds the
arguments (a leading ``kubectl`` word is dropped); ``manifest`` is the YAML the tool input
carries inline, the only content ``-f -`` may read. The result is never empty; anything
not understood or refused raises ``ParseError`` with a stable rule id (``parse/...``).

Pipeline: ``lexer`` (shell-like quoting, no shell) → identity-flag scan → ``commands``
(find the sub-command) → ``flags`` (pflag-compatible flag parsing against that
sub-command's table) → the sub-command's handler (``reads``, ``mutations``, ``setcmd``,
``nodes``, ``delete``, ``manifests``, ``create*``) → scope checks.

Resource tokens stay exactly as written (``pvc``, ``deploy.apps``, ``Deployment.v1.apps``)
with ``group``/``version`` None and ``resolved`` False; the REST mapper resolves them.
Namespaces are never defaulted: ``namespace`` is None unless ``-n`` (or a manifest's
``metadata.namespace``) gives one. ``-A`` sets ``all_namespaces`` and is accepted only by
sub-commands that define it; with a named object it is refused, as kubectl refuses it
("a resource cannot be retrieved by name across all namespaces").
"""

from __future__ import annotations

from infraagent.models.requests import KubeRequest, ParseError
from infraagent.tools.kubectl.commands import find_leaf
from infraagent.tools.kubectl.flags import identity_error, parse_args, scan_identity
from infraagent.tools.kubectl.lexer import split_command
from infraagent.tools.kubectl.targets import Ctx

__all__ = ["parse_kubectl"]


def _words(command: object) -> list[str]:
    if not isinstance(command, str):
        raise ParseError("parse/invalid-input", "the kubectl command must be a string")
    words = split_command(command)
    if words and words[0] == "kubectl":
        words = words[1:]
    if not words:
        raise ParseError("parse/syntax", "the kubectl command is empty")
    return words


def _manifest(manifest: object) -> str | None:
    if manifest is None:
        return None
    if not isinstance(manifest, str):
        raise ParseError("parse/invalid-input", "the manifest must be a string of YAML")
    return manifest if manifest.strip() else None


def parse_kubectl(command: str, manifest: str | None = None) -> list[KubeRequest]:
    """Parse one kubectl call into the canonical requests it would make (never empty).

    Raises ``ParseError(rule, reason)`` for anything not understood or refused.
    """
    words = _words(command)
    text = _manifest(manifest)
    user_flag = scan_identity(words)
    leaf, rest = find_leaf(words)
    if user_flag and "user" not in leaf.flags.longs:
        raise identity_error("--user")
    args = parse_args(rest, leaf.flags)
    if args.has("filename") and not leaf.manifest:
        raise ParseError("parse/file-input", "this sub-command cannot read -f input")
    if text is not None and not args.has("filename"):
        raise ParseError(
            "parse/syntax", "a manifest was given but the command does not read it (-f -)"
        )
    requests = leaf.handler(Ctx.of(args, text))
    if not requests:
        raise ParseError("parse/syntax", "the command makes no API request")
    for request in requests:
        if request.all_namespaces and request.name is not None:
            raise ParseError(
                "parse/syntax",
                "a resource cannot be retrieved by name across all namespaces (-A)",
            )
    return requests
