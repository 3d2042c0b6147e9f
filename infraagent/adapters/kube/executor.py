"""``KubeToolExecutor``: the judged canonical requests of a ``kubectl`` call, run for real.

Every request runs in order through a client that impersonates the agent's identity, so the
server's RBAC (generated from the agent's Action Sheets) is a second, independent check on
what the guardrails allowed. Answers are rendered the way kubectl prints them
(``tools.render``) and trimmed; an API error (403, 404, 409, 422, ...) becomes that
request's ``Error from server (...)`` tool result and stops the call. Nothing raises.

Requests arrive unresolved (``deploy``, ``Deployment.v1.apps``): they are resolved with the
built-in REST mapper extended by the server's live discovery. Notable mappings:

- ``rollout restart``'s placeholder ``restartedAt: now`` is stamped with the clock's time;
- ``logs``: ``pods/log`` capped at the last 500 lines; without a pod name (``logs
  deploy/web``) the first pod matching the previous object's selector is used;
- ``create pods/eviction`` without a name (``drain``): every pod of the node (field
  selector ``spec.nodeName=N``) except DaemonSet pods gets an Eviction;
- the parser's pseudo resources (``api-discovery``, ``openapi/v3``) are answered from
  discovery.

HTTP and MCP tool calls are not executed here (another component owns them): they get an
error tool result.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote

import urllib3

from infraagent.adapters.kube.client import KubeClient, send
from infraagent.adapters.kube.discovery import group_version_path
from infraagent.errors import KubeError
from infraagent.guardrails.resources import ResourceInfo
from infraagent.guardrails.restmapper import RestMapper
from infraagent.models.requests import CanonicalRequest, KubeRequest
from infraagent.ports import Clock, ToolOutput
from infraagent.tools.names import KUBECTL_TOOL
from infraagent.tools.render import render_error, render_result

MAX_OUTPUT: Final = 8000
LOG_LINES: Final = 500
APPLY_MANAGER: Final = "infraagent-agent"
UNAVAILABLE: Final = "http_request/mcp execution is not available in this executor"
PATCH_TYPES: Final = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
RESTARTED_AT: Final = "kubectl.kubernetes.io/restartedAt"
PSEUDO: Final = frozenset({"api-discovery", "openapi/v3"})
_OUTPUT_FLAG: Final = re.compile(r"(?:^|\s)(?:-o|--output)(?:=|\s+)([A-Za-z-]+)")
_METHODS: Final = {"create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}


class _ApiFailure(Exception):
    """An HTTP error answer: its status and raw body (a ``Status`` object, usually)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}")
        self.status = status
        self.body = body


@dataclass(frozen=True)
class _Target:
    """A resolved request and the resource it names."""

    request: KubeRequest
    info: ResourceInfo

    def collection(self) -> str:
        """The REST path of the request's collection (every namespace with ``-A``)."""
        req = self.request
        api_version = f"{req.group}/{req.version}" if req.group else str(req.version)
        path = group_version_path(api_version)
        if self.info.namespaced and req.namespace and not req.all_namespaces:
            path += f"/namespaces/{quote(req.namespace, safe='')}"
        return f"{path}/{self.info.resource}"

    def path(self, *, name: str | None = None) -> str:
        """The REST path of the object ``name`` (default: the request's) or the collection."""
        req = self.request
        path = self.collection()
        name = name or req.name
        if name:
            path += f"/{quote(name, safe='')}"
            if req.subresource:
                path += f"/{req.subresource}"
        return path


class MapperCache:
    """One discovery-backed REST mapper, shared by the executors of many runs.

    Full discovery costs a couple of dozen requests, so it is done once and reused for
    ``ttl`` seconds; a resource the mapper does not know asks for a fresh discovery, at most
    once every ``min_refresh`` seconds (a run asking for nonsense cannot make every run pay).
    Thread-safe. Without the server's discovery the built-in table still resolves most.
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        ttl: float = 300.0,
        min_refresh: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._ttl, self._min_refresh = client, ttl, min_refresh
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._mapper: RestMapper | None = None
        self._built = 0.0

    def get(self, refresh: bool = False) -> RestMapper:
        """The mapper; rebuilt when stale, or on ``refresh`` if not rebuilt just now."""
        with self._lock:
            now = self._monotonic()
            age = now - self._built
            stale = self._mapper is None or age >= self._ttl
            if stale or (refresh and age >= self._min_refresh):
                mapper = RestMapper.builtin()
                with contextlib.suppress(KubeError):  # the built-in table still resolves most
                    mapper = mapper.with_discovery(self._client.discovery())
                self._mapper, self._built = mapper, now
            assert self._mapper is not None
            return self._mapper


class KubeToolExecutor:
    """Executes allowed ``kubectl`` calls as ``agent_username`` (impersonation).

    ``http_request`` and MCP calls are not executed by this executor: they return an error
    tool result, as another component owns them.
    """

    def __init__(
        self,
        client: KubeClient,
        agent_username: str,
        *,
        clock: Clock,
        mappers: MapperCache | None = None,
    ) -> None:
        self._client = client
        self._username = agent_username
        self._clock = clock
        self._mappers = mappers or MapperCache(client)

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput:
        """Run ``requests`` in order; the rendered, trimmed output. Never raises."""
        kube = [r for r in requests if isinstance(r, KubeRequest)]
        if tool != KUBECTL_TOOL or len(kube) != len(requests):
            return ToolOutput(UNAVAILABLE, is_error=True)
        try:
            return self._run(kube, _output_format(arguments))
        except Exception as err:  # the model gets data, the loop never a crash
            return ToolOutput(f"error: the call failed ({type(err).__name__})", is_error=True)

    # ------------------------------------------------------------------ running

    def _run(self, requests: Sequence[KubeRequest], output: str | None) -> ToolOutput:
        parts: list[str] = []
        with self._client.impersonating(self._username) as client:
            api = client.api_client  # the impersonating ApiClient, for raw REST calls
            previous: Any = None
            for index, request in enumerate(requests):
                result, previous = self._one(api, request, output, previous)
                if result.is_error or not _feeds_logs(requests[index + 1 : index + 2]):
                    parts.append(result.text)
                if result.is_error:
                    return ToolOutput(_trim(parts, requests), is_error=True)
        return ToolOutput(_trim(parts, requests) or "(no output)")

    def _one(
        self, api: Any, request: KubeRequest, output: str | None, previous: Any
    ) -> tuple[ToolOutput, Any]:
        """One request: (its rendered result, the server's answer for the next request)."""
        if request.resource in PSEUDO:
            return ToolOutput(self._api_resources(request)), None
        target = self._resolve(request)
        if target is None:
            message = f'error: the server doesn\'t have a resource type "{request.resource}"'
            return ToolOutput(message, is_error=True), None
        try:
            answer = self._dispatch(api, target, previous)
        except _ApiFailure as failure:
            return render_error(target.request, failure.status, failure.body), None
        except KubeError as err:
            return ToolOutput(f"error: {err}", is_error=True), None
        if isinstance(answer, ToolOutput):
            return answer, None
        now = self._clock.now()
        return ToolOutput(render_result(target.request, answer, output, now=now)), answer

    def _dispatch(self, api: Any, target: _Target, previous: Any) -> Any:
        req = target.request
        if req.subresource == "log":
            return _logs(api, target, previous)
        if req.verb == "create" and req.subresource == "eviction" and not req.name:
            return _drain(api, target, self._clock)
        if req.verb in ("get", "list", "watch"):
            return _call(api, "GET", target.path(), query=_selectors(req))
        if req.verb == "deletecollection":
            query = [*_selectors(req), *_write_query(req)]
            return _call(api, "DELETE", target.path(), query=query)
        return self._write(api, target)

    def _write(self, api: Any, target: _Target) -> Any:
        req = target.request
        query = _write_query(req)
        body: Any = req.body
        content_type = None
        if req.verb == "patch":
            content_type = PATCH_TYPES.get(req.patch_type or "strategic")
            body = _stamp(body, self._clock.now().isoformat())
            if req.patch_type == "apply":
                query += [("fieldManager", APPLY_MANAGER), ("force", "true")]
        if req.verb == "delete":
            query += _delete_options(req.options)
        create = req.verb == "create" and not req.subresource
        path = target.collection() if create else target.path()
        return _call(api, _METHODS[req.verb], path, query=query, body=body, ctype=content_type)

    # ------------------------------------------------------------------ resolution

    def _resolve(self, request: KubeRequest) -> _Target | None:
        for refresh in (False, True):
            pairs = self._mapper_for(refresh).resolve_scoped(request)
            if pairs:
                resolved, info = pairs[0]
                return _Target(resolved, info)
        return None

    def _mapper_for(self, refresh: bool) -> RestMapper:
        return self._mappers.get(refresh)

    def _api_resources(self, request: KubeRequest) -> str:
        rows = sorted(self._mapper_for(False).resources(), key=lambda i: (i.group, i.resource))
        lines = ["NAME SHORTNAMES APIVERSION NAMESPACED KIND"]
        for info in rows:
            api_version = f"{info.group}/{info.version}" if info.group else info.version
            short = ",".join(info.short_names) or "-"
            lines.append(f"{info.resource} {short} {api_version} {info.namespaced} {info.kind}")
        if request.resource == "openapi/v3":
            lines.insert(0, "explain: OpenAPI schemas are not served to agents; resources:")
        return "\n".join(lines)


# ---------------------------------------------------------------------- requests


def _selectors(req: KubeRequest) -> list[tuple[str, str]]:
    query = []
    if req.label_selector:
        query.append(("labelSelector", req.label_selector))
    if req.field_selector:
        query.append(("fieldSelector", req.field_selector))
    return query


def _write_query(req: KubeRequest) -> list[tuple[str, str]]:
    return [("dryRun", "All")] if req.dry_run else []


def _delete_options(options: Iterable[str]) -> list[tuple[str, str]]:
    query = []
    for option in options:
        key, _, value = option.partition("=")
        if key == "grace-period" and value.lstrip("-").isdigit():
            query.append(("gracePeriodSeconds", str(max(int(value), 0))))
        elif key == "cascade" and value in ("orphan", "foreground", "background"):
            query.append(("propagationPolicy", value.capitalize()))
    return query


def _stamp(body: Any, now: str) -> Any:
    """A restart patch with its ``now`` placeholder replaced by the current time."""
    try:
        annotations = body["spec"]["template"]["metadata"]["annotations"]
    except (KeyError, TypeError):
        return body
    if not isinstance(annotations, dict) or annotations.get(RESTARTED_AT) != "now":
        return body
    stamped = json.loads(json.dumps(body))
    stamped["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT] = now
    return stamped


def _output_format(arguments: Mapping[str, Any]) -> str | None:
    """kubectl's ``-o`` of the command, which the canonical requests do not carry."""
    command = arguments.get("command")
    match = _OUTPUT_FLAG.search(command) if isinstance(command, str) else None
    return match.group(1).lower() if match else None


def _feeds_logs(following: Sequence[KubeRequest]) -> bool:
    """Whether the next request reads the logs of this one's pods (``logs deploy/web``):
    kubectl prints only the logs, not the workload."""
    return bool(following) and following[0].subresource == "log" and not following[0].name


def _trim(parts: Sequence[str], requests: Sequence[KubeRequest]) -> str:
    text = "\n".join(p for p in parts if p)
    if len(text) <= MAX_OUTPUT:
        return text
    cut = len(text) - MAX_OUTPUT
    if any(r.subresource == "log" for r in requests):
        return f"... ({cut} characters trimmed)\n" + text[-MAX_OUTPUT:]
    return text[:MAX_OUTPUT] + f"\n... ({cut} more characters trimmed)"


# ---------------------------------------------------------------------- logs and drain


def _logs(api: Any, target: _Target, previous: Any) -> Any:
    req = target.request
    name = req.name or _pod_for(api, target, previous)
    if isinstance(name, ToolOutput):
        return name
    path = target.path(name=name)
    return _call(api, "GET", path, query=[("tailLines", str(LOG_LINES))], raw=True)


def _pod_for(api: Any, target: _Target, previous: Any) -> str | ToolOutput:
    """The pod whose log ``logs <workload>`` means: the first matching the selector."""
    selector = target.request.label_selector
    labels = previous.get("spec", {}).get("selector") if isinstance(previous, dict) else None
    match = labels.get("matchLabels") if isinstance(labels, dict) else None
    if not selector and isinstance(match, dict) and match:
        selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
    if not selector:
        return ToolOutput("error: logs needs a pod name or a selector", is_error=True)
    query = [("labelSelector", selector)]
    pods = _call(api, "GET", target.collection(), query=query)
    items = pods.get("items") or [] if isinstance(pods, dict) else []
    items.sort(key=lambda p: p.get("status", {}).get("phase") != "Running")
    if not items:
        return ToolOutput(f"error: no pods match {selector}", is_error=True)
    return str(items[0]["metadata"]["name"])


def _drain(api: Any, target: _Target, clock: Clock) -> ToolOutput:
    """Evict every pod the request's field selector names (DaemonSet pods stay)."""
    req = target.request
    pods = _call(api, "GET", target.collection(), query=_selectors(req))
    lines: list[str] = []
    for pod in pods.get("items") or [] if isinstance(pods, dict) else []:
        meta = pod.get("metadata") or {}
        if any(o.get("kind") == "DaemonSet" for o in meta.get("ownerReferences") or []):
            continue
        one = replace(req, name=meta["name"], namespace=meta["namespace"], all_namespaces=False)
        body = {**(req.body or {}), "metadata": {"name": one.name, "namespace": one.namespace}}
        path = _Target(one, target.info).path()
        try:
            answer = _call(api, "POST", path, body=body, query=_write_query(req))
        except _ApiFailure as failure:
            error = render_error(one, failure.status, failure.body)
            return ToolOutput("\n".join([*lines, error.text]), is_error=True)
        lines.append(render_result(one, answer, now=clock.now()))
    return ToolOutput("\n".join(lines) or "No pods to evict")


# ---------------------------------------------------------------------- REST


def _call(
    api: Any,
    method: str,
    path: str,
    *,
    query: Iterable[tuple[str, str]] = (),
    body: Any = None,
    ctype: str | None = None,
    raw: bool = False,
) -> Any:
    """One request through ``client.send``; the JSON answer (text when ``raw``).

    A failed status raises ``_ApiFailure`` with the server's own Status body, which
    ``render_error`` shows the model as kubectl would.
    """
    accept = "*/*" if raw else "application/json"
    try:
        answer = send(api, method, path, query=query, body=body, content_type=ctype, accept=accept)
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise KubeError(f"API server unreachable ({type(err).__name__})") from err
    if not answer.ok:
        raise _ApiFailure(answer.status, _text(answer.body) or answer.reason) from answer.cause
    if raw:
        return _text(answer.body)
    return json.loads(answer.body) if answer.body else {}


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data if isinstance(data, str) else ""
