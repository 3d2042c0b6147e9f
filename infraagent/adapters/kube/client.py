"""``KubeClient``: a small client for any Kubernetes kind, over plain mappings.

Every call goes through the REST paths that discovery gives (``/api/v1/namespaces/x/pods``,
``/apis/<group>/<version>/...``) with the SDK's ``ApiClient`` doing authentication, TLS and
connection pooling, so core kinds, built-in groups and custom resources (namespaced or
cluster-scoped) all work the same way and answers are plain ``dict``s, never SDK models.

- ``apply`` is server-side apply (``application/apply-patch+yaml``, field manager
  ``infraagent``, ``force``) and always returns the object the server holds: the typed SDK
  methods return ``None`` when an apply creates a custom object, so an empty answer is
  followed by a GET.
- ``apply_if_changed`` writes only when a dry-run apply (``dryRun=All``) says the object
  would change, so a no-op leaves ``resourceVersion`` where it was.
- ``impersonating`` gives a copy that sends ``Impersonate-User`` (agent identities).
- Failures are the typed ``KubeError`` tree (``adapters.kube.errors``), chained from the SDK's.

Deliberately not here: watches, Events and leader election (their own modules), retries
(the caller decides), and reading ``KUBECONFIG`` (``settings`` does; pass the path).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from infraagent.adapters.kube.discovery import Discovery, group_version_path
from infraagent.adapters.kube.errors import kube_error, unreachable
from infraagent.errors import KubeError, KubeNotFound
from infraagent.guardrails.resources import ResourceInfo

POOL_SIZE: Final = 32
FIELD_MANAGER: Final = "infraagent"
APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"
ApplyOutcome = Literal["created", "configured", "unchanged"]
_TIMEOUT: Final = 30.0
# The SDK's functions are untyped: keep its Any inside this module.
_sdk_client: Any = k8s_client
_sdk_config: Any = k8s_config


@dataclass(frozen=True)
class ObjectList:
    """The items of a list (each with ``apiVersion`` and ``kind``) and its resourceVersion."""

    items: list[dict[str, Any]]
    resource_version: str


@dataclass(frozen=True)
class _Ref:
    """Where one object lives: its resource, namespace and name."""

    info: ResourceInfo
    api_version: str
    name: str
    namespace: str | None

    @property
    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.info.kind} {where}{self.name}"


class KubeClient:
    """Server-side apply, get, list, delete and status patches for any kind."""

    def __init__(self, api_client: Any, *, discovery: Discovery | None = None) -> None:
        """Wrap a ``kubernetes.client.ApiClient`` (this client closes it in ``close``)."""
        self._api = api_client
        self._discovery = discovery or Discovery(self._get_json)

    @classmethod
    def from_kubeconfig(cls, path: Path | None = None, context: str | None = None) -> KubeClient:
        """A client for ``context`` (default: the current one) of the kubeconfig at ``path``.

        ``path`` None means the SDK's default location (``~/.kube/config``).
        """
        configuration = _sdk_client.Configuration()
        try:
            _sdk_config.load_kube_config(
                config_file=str(path) if path is not None else None,
                context=context,
                client_configuration=configuration,
            )
        except (ConfigException, OSError, ValueError) as err:
            where = "the default kubeconfig" if path is None else f"kubeconfig {path.name}"
            raise KubeError(f"cannot load {where}: {type(err).__name__}") from err
        return cls(_sdk_client.ApiClient(configuration=_pooled(configuration)))

    @classmethod
    def in_cluster(cls) -> KubeClient:
        """A client with the pod's own ServiceAccount token and CA."""
        configuration = _sdk_client.Configuration()
        try:
            _sdk_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as err:
            raise KubeError("not running in a cluster (no ServiceAccount token)") from err
        return cls(_sdk_client.ApiClient(configuration=_pooled(configuration)))

    @property
    def api_client(self) -> Any:
        """The underlying SDK ApiClient, for streaming and raw calls inside this adapter."""
        return self._api

    def close(self) -> None:
        """Release the connection pool."""
        self._api.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def impersonating(self, username: str) -> KubeClient:
        """A copy that acts as ``username`` (``Impersonate-User``); close it when done.

        A ServiceAccount's username (``system:serviceaccount:<ns>:<name>``) gets its
        ServiceAccount groups from the server. Discovery is shared: it is the same for all.
        """
        api = _sdk_client.ApiClient(configuration=self._api.configuration)
        for header, value in self._api.default_headers.items():
            api.set_default_header(header, value)
        api.set_default_header("Impersonate-User", username)
        return KubeClient(api, discovery=self._discovery)

    def discovery(self) -> list[ResourceInfo]:
        """Every resource the server serves (preferred versions), for the REST mapper."""
        return self._discovery.resources()

    # ------------------------------------------------------------------ writes

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply ``obj`` (field manager ``infraagent``, force); the result."""
        ref = self._ref_of(obj)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        result = self._call(
            "PATCH",
            self._path(ref),
            action=f"apply {ref.label}",
            query=query,
            # Serialized here: the SDK would escape characters beyond U+FFFF as surrogate
            # pairs, which the server's YAML decoder of apply patches rejects (emoji).
            body=json.dumps(_apply_body(obj), ensure_ascii=False).encode("utf-8"),
            content_type=APPLY_PATCH,
        )
        if isinstance(result, dict) and result:
            return result
        if dry_run:
            raise KubeError(f"dry-run apply {ref.label}: the server returned no object")
        return self._get_ref(ref)

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (POST; ``metadata.generateName`` works); ``KubeConflict`` if it exists."""
        meta = obj.get("metadata") or {}
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        name = meta.get("name") or meta.get("generateName")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
            raise KubeError("an object to create needs apiVersion, kind and a name or generateName")
        ref = self._ref(api_version, kind, name, meta.get("namespace"))
        collection = self._path(ref).rsplit("/", 1)[0]
        result = self._call(
            "POST",
            collection,
            action=f"create {ref.label}",
            query=[("fieldManager", FIELD_MANAGER)],
            body=_apply_body(obj),
        )
        return _as_object(result, ref)

    def apply_if_changed(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """Apply ``obj`` only if that would change the live object; (object, changed)."""
        result, outcome = self.apply_with_outcome(obj)
        return result, outcome != "unchanged"

    def apply_with_outcome(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], ApplyOutcome]:
        """Like ``apply_if_changed``, saying ``created``, ``configured`` or ``unchanged``."""
        ref = self._ref_of(obj)
        try:
            live = self._get_ref(ref)
        except KubeNotFound:
            return self.apply(obj), "created"
        preview = self.apply(obj, dry_run=True)
        if _comparable(preview) == _comparable(live):
            return live, "unchanged"
        return self.apply(obj), "configured"

    def patch_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        status: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the ``status`` subresource; the updated object."""
        ref = self._ref(api_version, kind, name, namespace)
        result = self._call(
            "PATCH",
            self._path(ref, "status"),
            action=f"patch status of {ref.label}",
            query=[("fieldManager", FIELD_MANAGER)],
            body={"status": copy.deepcopy(dict(status))},
            content_type=MERGE_PATCH,
        )
        return _as_object(result, ref)

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Mapping[str, Any],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch (RFC 7386) of the object itself, e.g. its metadata; the result."""
        ref = self._ref(api_version, kind, name, namespace)
        result = self._call(
            "PATCH",
            self._path(ref),
            action=f"patch {ref.label}",
            query=[("fieldManager", FIELD_MANAGER)],
            body=copy.deepcopy(dict(patch)),
            content_type=MERGE_PATCH,
        )
        return _as_object(result, ref)

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation: str | None = None,
    ) -> None:
        """Delete one object (``propagation``: Foreground, Background or Orphan)."""
        ref = self._ref(api_version, kind, name, namespace)
        body = {"propagationPolicy": propagation} if propagation else None
        self._call("DELETE", self._path(ref), action=f"delete {ref.label}", body=body)

    # ------------------------------------------------------------------ reads

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """One object; ``KubeNotFound`` when it does not exist."""
        return self._get_ref(self._ref(api_version, kind, name, namespace))

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> ObjectList:
        """The objects of a kind (in ``namespace``, or everywhere) and the list's version."""
        info = self._discovery.lookup(api_version, kind)
        base = group_version_path(api_version)
        if info.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        query = [("labelSelector", label_selector)] if label_selector else []
        answer = self._call("GET", f"{base}/{info.resource}", action=f"list {kind}", query=query)
        answer = answer if isinstance(answer, dict) else {}
        items = [
            {"apiVersion": api_version, "kind": kind, **item} for item in answer.get("items") or []
        ]
        version = str((answer.get("metadata") or {}).get("resourceVersion", ""))
        return ObjectList(items=items, resource_version=version)

    # ------------------------------------------------------------------ plumbing

    def _ref(self, api_version: str, kind: str, name: str, namespace: str | None) -> _Ref:
        info = self._discovery.lookup(api_version, kind)
        if info.namespaced and not namespace:
            raise KubeError(f"{kind} {name} is namespaced: give its namespace")
        return _Ref(info, api_version, name, namespace if info.namespaced else None)

    def _ref_of(self, obj: Mapping[str, Any]) -> _Ref:
        meta = obj.get("metadata") or {}
        api_version, kind, name = obj.get("apiVersion"), obj.get("kind"), meta.get("name")
        if not (isinstance(api_version, str) and isinstance(kind, str) and isinstance(name, str)):
            raise KubeError("an object to apply needs apiVersion, kind and metadata.name")
        return self._ref(api_version, kind, name, meta.get("namespace"))

    @staticmethod
    def _path(ref: _Ref, subresource: str | None = None) -> str:
        path = group_version_path(ref.api_version)
        if ref.namespace:
            path += f"/namespaces/{quote(ref.namespace, safe='')}"
        path += f"/{ref.info.resource}/{quote(ref.name, safe='')}"
        return f"{path}/{subresource}" if subresource else path

    def _get_ref(self, ref: _Ref) -> dict[str, Any]:
        return _as_object(self._call("GET", self._path(ref), action=f"get {ref.label}"), ref)

    def _get_json(self, path: str) -> Mapping[str, Any]:
        answer = self._call("GET", path, action=f"discover {path}")
        return answer if isinstance(answer, dict) else {}

    def _call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: Iterable[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """One request; the decoded JSON answer (None when empty), or a typed error."""
        try:
            answer = send(
                self._api, method, path, query=query, body=body, content_type=content_type
            )
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise unreachable(action, err) from err
        if not answer.ok:
            raise kube_error(action, answer.status, answer.reason, answer.body) from answer.cause
        return _decode(answer.body, action)


@dataclass(frozen=True)
class RawAnswer:
    """A server's answer whatever its status: the status, reason and body bytes.

    ``cause`` is the SDK's exception for a failed status (errors are chained from it).
    """

    status: int
    reason: str
    body: bytes
    cause: Exception | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299


def send(
    api: Any,
    method: str,
    path: str,
    *,
    query: Iterable[tuple[str, str]] = (),
    body: Any = None,
    content_type: str | None = None,
    accept: str = "application/json",
) -> RawAnswer:
    """One REST request through the SDK's ApiClient; the raw answer, failed or not.

    A server that cannot be reached raises the transport's error (urllib3 or OSError).
    """
    headers = {"Accept": accept}
    if content_type:
        headers["Content-Type"] = content_type
    try:
        params = api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*params, _request_timeout=_TIMEOUT)
        data = response.read() or b""
    except ApiException as err:
        raw = err.body.encode() if isinstance(err.body, str) else (err.body or b"")
        return RawAnswer(int(err.status or 0), str(err.reason or ""), raw, err)
    if 200 <= response.status <= 299:
        return RawAnswer(response.status, str(response.reason or ""), data)
    failed = ApiException(http_resp=response)
    return RawAnswer(response.status, str(response.reason or ""), data, failed)


def _pooled(configuration: Any) -> Any:
    """``configuration`` with a connection pool sized for the operator's threads (runs, the
    scheduler, the reconciler, watches), instead of the SDK's 10, which discards connections."""
    configuration.connection_pool_maxsize = POOL_SIZE
    return configuration


def _decode(raw: bytes | None, action: str) -> Any:
    """The JSON of an answer; None for an empty one."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as err:
        raise KubeError(f"{action}: the server's answer is not JSON") from err


def _apply_body(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without the server-owned metadata that must not be applied back.

    A stale ``resourceVersion`` would act as a precondition (409), and ``managedFields``
    would rewrite field ownership (reference: real-apiserver.md §5, pitfall 5).
    """
    body = copy.deepcopy(dict(obj))
    meta = dict(body.get("metadata") or {})
    for key in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
        meta.pop(key, None)
    body["metadata"] = meta
    return body


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without what a no-op apply may report differently: resourceVersion, times."""
    body = copy.deepcopy(dict(obj))
    meta = body.get("metadata") or {}
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return body


def _as_object(answer: Any, ref: _Ref) -> dict[str, Any]:
    """The answer as an object, or a ``KubeError`` when the server sent none."""
    if not isinstance(answer, dict):
        raise KubeError(f"{ref.label}: the server returned no object")
    return answer
