"""The REST mapper: every way of naming a resource resolves to the same canonical resource.

``RestMapper.resolve`` accepts, case-insensitively, a kind (``PersistentVolumeClaim``),
singular, plural or short name (``pvc``), each optionally qualified as ``X.group`` or
``X.version.group`` (``persistentvolumeclaims.v1.``, ``deploy.apps``,
``Cluster.v1.postgresql.cnpg.io``), and answers with every resource it may name, most
preferred first. A qualified token must name its group exactly. A bare token that names a
resource of the core group or of a group compiled into kube-apiserver resolves to that
resource alone, as kubectl does (``events`` is the core Event, ``pods`` is never
``pods.metrics.k8s.io``); a bare token shared only by custom resources (``backup``: CNPG
and Velero) resolves to all of them, and the caller must judge each.

Lookups are dictionary hits on tables built once per mapper. The mapper knows the built-in
table of ``resources``; ``with_discovery`` layers what a live cluster reports on top.
Discovery itself (the API calls) is not done here: this module is pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final

from infraagent.guardrails.resources import (
    BUILTIN_RESOURCES,
    COMPILED_IN_GROUPS,
    LOW_PRIORITY_GROUPS,
    ResourceInfo,
)
from infraagent.models.requests import KubeRequest

__all__ = ["ResourceInfo", "RestMapper"]

_VERSION: Final = re.compile(r"v\d+(?:(?:alpha|beta)\d+)?")
_CACHE_SIZE: Final = 4096
_Candidates = tuple[ResourceInfo, ...]


def _rank(group: str) -> int:
    """Lower is preferred: core, compiled-in groups, custom resources, low aggregated APIs."""
    if group == "":
        return 0
    if group in COMPILED_IN_GROUPS:
        return 1
    return 3 if group in LOW_PRIORITY_GROUPS else 2


def _preference(info: ResourceInfo) -> tuple[int, str, str]:
    return (_rank(info.group), info.group, info.resource)


def _aliases(info: ResourceInfo) -> set[str]:
    names = {info.resource, info.kind, info.singular or info.kind, *info.short_names}
    return {n.lower() for n in names if n}


class RestMapper:
    """Resolves resource tokens to ``ResourceInfo``; immutable once built."""

    __slots__ = ("_bare", "_by_gr", "_lookup", "_qualified")

    _by_gr: dict[tuple[str, str], ResourceInfo]
    _bare: dict[str, _Candidates]
    _qualified: dict[tuple[str, str], _Candidates]
    _lookup: Callable[[str], tuple[_Candidates, str | None]]

    def __init__(self, resources: Iterable[ResourceInfo]) -> None:
        by_gr: dict[tuple[str, str], ResourceInfo] = {}
        for info in resources:
            by_gr[(info.group, info.resource)] = info
        bare: dict[str, list[ResourceInfo]] = {}
        qualified: dict[tuple[str, str], list[ResourceInfo]] = {}
        for info in sorted(by_gr.values(), key=_preference):
            for alias in _aliases(info):
                bare.setdefault(alias, []).append(info)
                qualified.setdefault((alias, info.group), []).append(info)
        self._by_gr = by_gr
        self._bare = {alias: _best(found) for alias, found in bare.items()}
        self._qualified = {key: tuple(found) for key, found in qualified.items()}
        self._lookup = lru_cache(maxsize=_CACHE_SIZE)(self._lookup_uncached)

    @classmethod
    def builtin(cls) -> RestMapper:
        """The mapper over the built-in table (built once, shared)."""
        return _builtin()

    def with_discovery(self, resources: Iterable[ResourceInfo]) -> RestMapper:
        """A new mapper: these resources added, replacing any with the same group and plural."""
        return RestMapper([*self._by_gr.values(), *resources])

    def resources(self) -> tuple[ResourceInfo, ...]:
        """Every resource this mapper knows, most preferred first."""
        return tuple(sorted(self._by_gr.values(), key=_preference))

    def by_group_resource(self, group: str, resource: str) -> ResourceInfo | None:
        return self._by_gr.get((group, resource))

    def resolve(self, token: str) -> tuple[ResourceInfo, ...]:
        """Every resource ``token`` may name, most preferred first; () when unknown."""
        return self._lookup(token.lower())[0]

    def resolve_request(self, request: KubeRequest) -> tuple[KubeRequest, ...]:
        """``request`` once per resource it may name, resolved; () when unknown.

        Only ``resource``, ``group``, ``version`` and ``resolved`` change. A group already
        set on an unresolved request (from a manifest's ``apiVersion``) must match; a
        version given by the request or by its token is kept, otherwise the preferred one.
        """
        if request.resolved:
            known = self.by_group_resource(request.group or "", request.resource)
            return (request,) if known is not None else ()
        candidates, version = self._lookup(request.resource.lower())
        if request.group is not None:
            if "." in request.resource:
                candidates = tuple(c for c in candidates if c.group == request.group)
            else:
                key = (request.resource.lower(), request.group.lower())
                candidates = self._qualified.get(key, ())
        version = request.version or version
        return tuple(
            request.resolved_as(
                c.resource, c.group, version or c.version, request.namespace, request.all_namespaces
            )
            for c in candidates
        )

    def resolve_scoped(self, request: KubeRequest) -> tuple[tuple[KubeRequest, ResourceInfo], ...]:
        """Like ``resolve_request``, with the scope made explicit, paired with each resource.

        A namespaced resource without a namespace gets ``default``; a cluster-scoped one
        loses any namespace (kubectl ignores ``-n`` for it) and ``all_namespaces``.
        """
        pairs = []
        for candidate in self.resolve_request(request):
            info = self.by_group_resource(candidate.group or "", candidate.resource)
            if info is None:
                continue
            all_namespaces = request.all_namespaces and info.namespaced
            namespace = None
            if info.namespaced and not all_namespaces:
                namespace = request.namespace or "default"
            if namespace != candidate.namespace or all_namespaces != candidate.all_namespaces:
                candidate = candidate.resolved_as(  # noqa: PLW2901 - the scoped candidate
                    candidate.resource,
                    info.group,
                    candidate.version or info.version,
                    namespace,
                    all_namespaces,
                )
            pairs.append((candidate, info))
        return tuple(pairs)

    def _lookup_uncached(self, token: str) -> tuple[_Candidates, str | None]:
        """(candidates, explicit version or None) for a lower-cased token."""
        alias, dot, rest = token.partition(".")
        if not dot:
            return self._bare.get(token, ()), None
        version, dot, group = rest.partition(".")
        if dot and _VERSION.fullmatch(version):
            found = self._qualified.get((alias, group), ())
            if found:
                return found, version
        return self._qualified.get((alias, rest), ()), None


def _best(candidates: list[ResourceInfo]) -> _Candidates:
    """A bare name: the core or compiled-in resource alone, else every custom resource."""
    top = _rank(candidates[0].group)
    if top <= 1:
        return tuple(c for c in candidates if _rank(c.group) == top)
    return tuple(candidates)


@lru_cache(maxsize=1)
def _builtin() -> RestMapper:
    return RestMapper(BUILTIN_RESOURCES)
