"""List and watch any kind, with resourceVersion, bookmarks and a re-list on 410 Gone.

Two halves:

- The pure part (no I/O): ``step`` takes the resourceVersion seen so far and one raw watch
  event (``{"type": ..., "object": ...}``) and says what comes next: the new
  resourceVersion, the event to emit (none for a ``BOOKMARK``, which only advances the
  version) and whether to re-list (an ``ERROR`` event with code 410). Any other ``ERROR``
  raises the typed ``KubeError`` for its code. ``relist_events`` turns a fresh list into
  what to emit after a re-list: a ``RELISTED`` marker, every current object as ``ADDED``
  and every object that vanished between the lists as ``DELETED``.
- ``Watcher``: the thin I/O loop. An initial list (each item ``ADDED``), then a streamed
  ``GET ...?watch=true&allowWatchBookmarks=true&resourceVersion=<rv>``, reopened from the
  last version seen when the server ends it (``timeoutSeconds``) or when it stays idle for
  ``poll_seconds`` (so ``stop`` is noticed), and re-listed on 410 Gone, whether it comes as
  the HTTP status or as an ``ERROR`` event.

Requests go through the ``ApiClient`` that ``KubeClient`` holds, as ``client.py`` sends
them (auth, TLS and the connection pool stay the SDK's). Deliberately not here: retries
after a failed connection (the caller decides) and informer-style caches.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from infraagent.adapters.kube.client import KubeClient
from infraagent.adapters.kube.discovery import Discovery, group_version_path
from infraagent.adapters.kube.errors import kube_error, unreachable
from infraagent.errors import KubeError

log = logging.getLogger(__name__)

EventType = Literal["ADDED", "MODIFIED", "DELETED", "RELISTED"]
_PASS_THROUGH: Final = frozenset({"ADDED", "MODIFIED", "DELETED"})
GONE: Final = 410
_CONNECT_TIMEOUT: Final = 10.0
_iter_lines: Any = iter_resp_lines  # the SDK is untyped: keep its Any here


@dataclass(frozen=True)
class WatchEvent:
    """One change: ``ADDED``, ``MODIFIED``, ``DELETED``, or the ``RELISTED`` marker.

    The marker's object carries only ``metadata.resourceVersion`` of the new list.
    """

    type: EventType
    object: dict[str, Any]


@dataclass(frozen=True)
class Step:
    """What one raw watch event means: the next resourceVersion, what to emit, re-list?"""

    resource_version: str
    emit: WatchEvent | None = None
    relist: bool = False


# --------------------------------------------------------------------------- the pure part


def _version_of(obj: Mapping[str, Any], default: str) -> str:
    meta = obj.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
    return str(version) if version else default


def step(resource_version: str, raw: Mapping[str, Any]) -> Step:
    """The next state after one raw watch event; ``KubeError`` for a non-410 ``ERROR``."""
    kind = raw.get("type")
    obj = raw.get("object")
    if not isinstance(obj, Mapping):
        raise KubeError(f"watch: event {kind!r} without an object")
    if kind == "BOOKMARK":
        return Step(_version_of(obj, resource_version))
    if isinstance(kind, str) and kind in _PASS_THROUGH:
        event_type: EventType = kind  # type: ignore[assignment]
        return Step(_version_of(obj, resource_version), WatchEvent(event_type, dict(obj)))
    if kind == "ERROR":
        code = obj.get("code")
        if code == GONE:
            return Step(resource_version, relist=True)
        status = code if isinstance(code, int) else None
        raise kube_error("watch", status, str(obj.get("reason") or ""), json.dumps(obj))
    raise KubeError(f"watch: unknown event type {kind!r}")


def object_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object: what identifies it within one watched kind."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def relist_events(
    known: Mapping[tuple[str, str], Mapping[str, Any]],
    items: Iterable[Mapping[str, Any]],
    resource_version: str,
) -> list[WatchEvent]:
    """After a re-list: the marker, every current object ``ADDED``, the vanished ``DELETED``."""
    current = [dict(item) for item in items]
    seen = {object_key(item) for item in current}
    marker = WatchEvent("RELISTED", {"metadata": {"resourceVersion": resource_version}})
    added = [WatchEvent("ADDED", item) for item in current]
    gone = [WatchEvent("DELETED", dict(obj)) for key, obj in known.items() if key not in seen]
    return [marker, *added, *gone]


def remember(known: dict[tuple[str, str], dict[str, Any]], event: WatchEvent) -> None:
    """Update the objects known to exist with one emitted event."""
    if event.type == "RELISTED":
        return
    if event.type == "DELETED":
        known.pop(object_key(event.object), None)
    else:
        known[object_key(event.object)] = event.object


# --------------------------------------------------------------------------- the I/O loop


class _Gone(Exception):
    """The server said 410 Gone: the resourceVersion is too old to watch from."""


@dataclass
class _State:
    resource_version: str = ""
    known: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class Watcher:
    """List, then watch, one kind (in ``namespace`` or everywhere); see the module doc."""

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        timeout_seconds: int = 300,
        poll_seconds: float = 5.0,
        resource_version: str | None = None,
    ) -> None:
        """``timeout_seconds``: the server ends each watch after it (it is then reopened).

        ``poll_seconds``: how long a watch may stay silent before it is reopened and ``stop``
        checked. ``resource_version``: watch from there instead of listing first.
        """
        self._client = client
        # KubeClient offers no streaming call: stream through its ApiClient, as client.py calls.
        self._api: Any = client.api_client
        self.api_version, self.kind = api_version, kind
        self.namespace, self.label_selector = namespace, label_selector
        self.timeout_seconds, self.poll_seconds = timeout_seconds, poll_seconds
        self._start_version = resource_version
        self._path: str | None = None

    def events(self, stop: threading.Event) -> Iterator[WatchEvent]:
        """Every change until ``stop`` is set; ``KubeError`` when the API fails otherwise."""
        state = _State()
        if self._start_version is None:
            yield from self._relist(state, marker=False)
        else:
            state.resource_version = self._start_version
        while not stop.is_set():
            try:
                yield from self._watch_once(state, stop)
            except _Gone:
                log.info(
                    "watch %s: resourceVersion %s is gone, re-listing",
                    self.kind,
                    state.resource_version,
                )
                yield from self._relist(state, marker=True)

    def _relist(self, state: _State, *, marker: bool) -> Iterator[WatchEvent]:
        listed = self._client.list(
            self.api_version, self.kind, self.namespace, label_selector=self.label_selector
        )
        state.resource_version = listed.resource_version
        if marker:
            emitted = relist_events(state.known, listed.items, listed.resource_version)
        else:
            emitted = [WatchEvent("ADDED", item) for item in listed.items]
        for event in emitted:
            remember(state.known, event)
            yield event

    def _watch_once(self, state: _State, stop: threading.Event) -> Iterator[WatchEvent]:
        """One watch request, until the server ends it, it idles, or ``stop`` is set."""
        response = self._open(state.resource_version)
        try:
            for line in _iter_lines(response):
                if stop.is_set():
                    return
                if not line:
                    continue
                result = step(state.resource_version, _decode_line(line))
                if result.relist:
                    raise _Gone
                state.resource_version = result.resource_version
                if result.emit is not None:
                    remember(state.known, result.emit)
                    yield result.emit
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            return  # idle or cut off: reopen from the last version seen
        finally:
            response.release_conn()

    def _open(self, resource_version: str) -> Any:
        """The streamed watch response (urllib3); ``_Gone`` on HTTP 410."""
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.timeout_seconds)),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        action = f"watch {self.kind}"
        response = self._request(self._collection_path(), query, action, stream=True)
        if response.status == GONE:
            response.release_conn()
            raise _Gone
        if not 200 <= response.status <= 299:
            raw = response.data
            response.release_conn()
            raise kube_error(action, response.status, str(response.reason or ""), raw)
        return response

    def _collection_path(self) -> str:
        if self._path is None:
            info = Discovery(self._get_json).lookup(self.api_version, self.kind)
            path = group_version_path(self.api_version)
            if info.namespaced and self.namespace:
                path += f"/namespaces/{quote(self.namespace, safe='')}"
            self._path = f"{path}/{info.resource}"
        return self._path

    def _get_json(self, path: str) -> Mapping[str, Any]:
        action = f"discover {path}"
        response = self._request(path, [], action, stream=False)
        raw = response.data
        if not 200 <= response.status <= 299:
            raise kube_error(action, response.status, str(response.reason or ""), raw)
        answer = json.loads(raw) if raw else {}
        return answer if isinstance(answer, dict) else {}

    def _request(
        self, path: str, query: list[tuple[str, str]], action: str, *, stream: bool
    ) -> Any:
        """A GET as ``KubeClient`` sends it; the urllib3 response (body not yet read)."""
        read = self.poll_seconds if stream else self.timeout_seconds
        try:
            params = self._api.param_serialize(
                method="GET",
                resource_path=path,
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            answer = self._api.call_api(*params, _request_timeout=(_CONNECT_TIMEOUT, read))
        except ApiException as err:
            if err.status == GONE:
                raise _Gone from err
            raise kube_error(action, err.status, str(err.reason or ""), err.body) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise unreachable(action, err) from err
        return answer.response


def _decode_line(line: str) -> Mapping[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError as err:
        raise KubeError("watch: the server sent a line that is not JSON") from err
    if not isinstance(raw, dict):
        raise KubeError("watch: the server sent an event that is not an object")
    return raw
