"""API discovery: which resources the server serves, for the REST mapper and for apply.

``Discovery`` reads ``/api`` and ``/apis`` (each group's preferred version) into
``ResourceInfo`` rows that ``RestMapper.builtin().with_discovery(...)`` accepts, and maps
``(apiVersion, kind)`` to a resource for the client, caching each group version and reading
it again once when a kind is missing (a CRD installed a moment ago). It does not read the
aggregated discovery format, and it skips a group whose version list the server cannot give
(an unavailable aggregated API), as kubectl does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infraagent.errors import KubeError, KubeNotFound
from infraagent.guardrails.resources import ResourceInfo

Getter = Callable[[str], Mapping[str, Any]]


def group_version_path(api_version: str) -> str:
    """``v1`` → ``/api/v1``; ``apps/v1`` → ``/apis/apps/v1``."""
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


def parse_resource_list(resource_list: Mapping[str, Any]) -> list[ResourceInfo]:
    """The top-level resources of an ``APIResourceList``, with their subresources."""
    group_version = str(resource_list.get("groupVersion", ""))
    group, _, version = group_version.rpartition("/")
    entries = [r for r in resource_list.get("resources") or [] if isinstance(r, Mapping)]
    subs: dict[str, set[str]] = {}
    for entry in entries:
        parent, slash, sub = str(entry.get("name", "")).partition("/")
        if slash:
            subs.setdefault(parent, set()).add(sub)
    return [
        ResourceInfo(
            group=group,
            version=version,
            resource=str(entry["name"]),
            kind=str(entry.get("kind", "")),
            namespaced=bool(entry.get("namespaced", False)),
            singular=str(entry.get("singularName") or ""),
            short_names=tuple(str(s) for s in entry.get("shortNames") or ()),
            subresources=frozenset(subs.get(str(entry["name"]), ())),
        )
        for entry in entries
        if "/" not in str(entry.get("name", "/"))
    ]


class Discovery:
    """Discovery over a JSON ``GET`` function; caches resource lists per group version."""

    def __init__(self, get: Getter) -> None:
        self._get = get
        self._by_group_version: dict[str, dict[str, ResourceInfo]] = {}

    def preferred_group_versions(self) -> list[str]:
        """``v1`` and every API group's preferred ``group/version``, in the server's order."""
        core = self._get("/api").get("versions") or ["v1"]
        groups = self._get("/apis").get("groups") or []
        preferred = [
            str(g["preferredVersion"]["groupVersion"])
            for g in groups
            if isinstance(g, Mapping) and isinstance(g.get("preferredVersion"), Mapping)
        ]
        return [str(core[-1]) if "v1" not in core else "v1", *preferred]

    def resources(self) -> list[ResourceInfo]:
        """Every top-level resource of every preferred group version."""
        found: list[ResourceInfo] = []
        for group_version in self.preferred_group_versions():
            try:
                found.extend(self._load(group_version).values())
            except KubeError as err:
                if err.status is None:
                    raise
        return found

    def lookup(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource that serves ``kind`` in ``api_version``; ``KubeNotFound`` if none."""
        known = self._by_group_version.get(api_version)
        if known is None or kind not in known:
            known = self._load(api_version)
        if kind not in known:
            raise KubeNotFound(f"the server has no kind {kind} in {api_version}", status=404)
        return known[kind]

    def _load(self, api_version: str) -> dict[str, ResourceInfo]:
        by_kind = {
            info.kind: info
            for info in parse_resource_list(self._get(group_version_path(api_version)))
        }
        self._by_group_version[api_version] = by_kind
        return by_kind
