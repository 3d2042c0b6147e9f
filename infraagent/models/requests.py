"""Canonical requests: what a tool call would do, in a form the guardrails can judge.

Every tool call is parsed into zero or more canonical requests before anything else
happens: ``KubeRequest`` (one Kubernetes API request), ``HttpRequest`` (one normalised HTTP
request) or ``McpCall`` (one MCP tool call). Parsers live in ``infraagent.tools``; the
guardrail engine judges the result. These are plain frozen dataclasses, cheap to build on
the hot path; they do no validation of their own beyond their types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

KUBE_VERBS: Final = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)
READ_VERBS: Final = frozenset({"get", "list", "watch"})


@dataclass(frozen=True, slots=True)
class KubeRequest:
    """One Kubernetes API request.

    Before resolution ``resource`` is the token as the caller wrote it (``pvc``,
    ``Deployment``, ``deployments.v1.apps``) and ``group``/``version`` are None; the REST
    mapper turns it into the canonical plural with its group (``""`` for the core group)
    and sets ``resolved``.

    - ``name`` None means the collection (list, or a delete by selector / ``--all``).
    - ``namespace`` None means "not given" (the default namespace applies to namespaced
      resources) or a cluster-scoped resource; ``all_namespaces`` is ``-A``.
    - ``body``: the manifest of a create/update, or the patch document of a patch.
    - ``patch_type``: ``strategic``, ``merge``, ``json`` or ``apply``.
    - ``options``: notable flags that change the effect, normalised, such as ``force``,
      ``grace-period=0``, ``cascade=orphan``, ``all``, ``replace`` (a ``replace --force``
      delete), ``drain``, ``taint-effect=NoExecute``.
    """

    verb: str
    resource: str
    group: str | None = None
    version: str | None = None
    subresource: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    name: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    body: Any = None
    patch_type: str | None = None
    dry_run: bool = False
    options: frozenset[str] = frozenset()
    resolved: bool = False

    def resolved_as(
        self, resource: str, group: str, version: str, namespace: str | None, all_namespaces: bool
    ) -> KubeRequest:
        """This request resolved to ``group/version/resource`` in the given scope.

        Written out field by field: it runs on the hot path, where ``dataclasses.replace``
        costs several times more.
        """
        return KubeRequest(
            self.verb,
            resource,
            group,
            version,
            self.subresource,
            namespace,
            all_namespaces,
            self.name,
            self.label_selector,
            self.field_selector,
            self.body,
            self.patch_type,
            self.dry_run,
            self.options,
            True,
        )

    @property
    def qualified_resource(self) -> str:
        """``plural.group`` (core resources have no group), plus ``/subresource``."""
        base = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{base}/{self.subresource}" if self.subresource else base

    def summary(self) -> str:
        """A one-line, human-readable summary for the ledger (never includes the body)."""
        parts = [self.verb, self.qualified_resource]
        if self.name:
            parts.append(self.name)
        if self.all_namespaces:
            parts.append("-A")
        elif self.namespace:
            parts.append(f"-n {self.namespace}")
        if self.label_selector:
            parts.append(f"-l {self.label_selector}")
        if self.field_selector:
            parts.append(f"--field-selector {self.field_selector}")
        parts.extend(f"--{o}" for o in sorted(self.options))
        if self.dry_run:
            parts.append("(dry run)")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request, normalised.

    ``host`` is lower-case without a trailing dot; an IP literal in any spelling (decimal,
    hex, octal, shortened, IPv6) is rewritten to its canonical text form. ``port`` is always
    set (80/443 by default). ``path`` is percent-decoded only where decoding is safe
    (unreserved characters) and never contains dot segments.
    """

    method: str
    scheme: str
    host: str
    port: int
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def url(self) -> str:
        """The normalised URL that Action Sheet URL globs match against."""
        default = {"http": 80, "https": 443}.get(self.scheme)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if self.port == default else f"{host}:{self.port}"
        query = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{authority}{self.path}{query}"

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port): what a credential binding must match exactly."""
        return (self.scheme, self.host, self.port)

    def summary(self) -> str:
        return f"{self.method} {self.url}"


@dataclass(frozen=True, slots=True)
class McpCall:
    """One call of a tool of an MCP server."""

    server: str
    tool: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return f"mcp {self.server}/{self.tool}"


CanonicalRequest = KubeRequest | HttpRequest | McpCall


class ParseError(ValueError):
    """A tool call the parser does not understand, or refuses; always a deny.

    ``rule`` is a stable id such as ``parse/shell-metacharacter`` or ``parse/identity-flag``.
    """

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
