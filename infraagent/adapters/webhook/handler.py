"""The request handler: one signed POST in, one short JSON answer out, one log line.

Order of checks for ``POST /hooks/...``: route (404) → ``Content-Length`` (411 missing or
with ``Transfer-Encoding``, 400 invalid, 413 over the limit; the body is not read) → secret
(404 when none is configured, saying nothing about whether the object exists) → body (read
at most the declared length; a read waits at most the socket timeout and the whole body
at most the body deadline, else 408) → ``X-Hub-Signature-256`` (401) →
dispatch. ``Expect: 100-continue`` is answered only after the first checks pass, so an
oversized upload is refused before it is sent.

Deliberately not here: binding, threads and start/stop (``server``), and any work behind the
callbacks. The secret, the signature header and the body never reach a log line or answer.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Final

from infraagent.adapters.webhook.routes import (
    AgentTriggerCallback,
    AgentTriggerOutcome,
    FleetPushCallback,
    HookRoute,
    SecretLookup,
    TriggerResult,
    loggable_path,
    match_route,
)
from infraagent.adapters.webhook.signature import SIGNATURE_HEADER, verify

log = logging.getLogger("infraagent.adapters.webhook")

_LENGTH: Final = re.compile(r"[0-9]{1,18}")
_CHUNK: Final = 64 * 1024
_DRAIN_SECONDS: Final = 1.0
_EVENT_HEADER: Final = "X-GitHub-Event"

_CONFLICTS: Final = {
    TriggerResult.ALREADY_RUNNING: "already running",
    TriggerResult.PAUSED: "agent paused",
    TriggerResult.STALLED: "agent stalled",
}

_Answer = tuple[HTTPStatus, dict[str, str], dict[str, str]]  # status, JSON body, headers


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """What every request handler of one receiver shares."""

    secret_for: SecretLookup
    on_fleet_push: FleetPushCallback
    on_agent_trigger: AgentTriggerCallback
    max_body_bytes: int
    body_deadline: float
    retry_after_seconds: int


class _Refused(Exception):
    """Ends a request early with ``status`` and a short error text."""

    def __init__(self, status: HTTPStatus, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class HookHandler(BaseHTTPRequestHandler):
    """Serves the two hook routes; every other path is 404, every other method 405."""

    protocol_version = "HTTP/1.1"  # for Expect: 100-continue; every answer closes anyway
    server_version = "infraagent-webhook"
    sys_version = ""
    config: ReceiverConfig  # set, with ``timeout``, on the subclass the server builds

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        self._expects_continue = False
        self._body_consumed = False
        super().setup()

    def do_POST(self) -> None:
        route = match_route(self.path)
        if route is None:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            answer = self._serve(route)
        except _Refused as refused:
            answer = refused.status, {"error": refused.error}, {}
        except TimeoutError:
            answer = HTTPStatus.REQUEST_TIMEOUT, {"error": "request body too slow"}, {}
        except Exception as exc:  # a callback or the secret lookup failed
            log.error("webhook %s: %s", route.kind, type(exc).__name__)
            answer = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}, {}
        self._reply(*answer)

    def _serve(self, route: HookRoute) -> _Answer:
        length = self._declared_length()
        secret = self.config.secret_for(route.kind, route.namespace, route.name)
        if not secret:
            raise _Refused(HTTPStatus.NOT_FOUND, "not found")
        body = self._read_body(length)
        if not verify(secret, body, self.headers.get(SIGNATURE_HEADER)):
            raise _Refused(HTTPStatus.UNAUTHORIZED, "missing or invalid signature")
        event = self.headers.get(_EVENT_HEADER)
        if event == "ping":
            return HTTPStatus.OK, {"status": "pong"}, {}
        if route.kind == "agent":
            return self._trigger_agent(route)
        if event is None:
            raise _Refused(HTTPStatus.BAD_REQUEST, f"missing {_EVENT_HEADER}")
        if event != "push":
            return HTTPStatus.ACCEPTED, {"status": "ignored"}, {}
        self.config.on_fleet_push(route.namespace, route.name)
        return HTTPStatus.ACCEPTED, {"status": "accepted"}, {}

    def _trigger_agent(self, route: HookRoute) -> _Answer:
        answer = self.config.on_agent_trigger(route.namespace, route.name)
        if isinstance(answer, AgentTriggerOutcome):
            result, wait = answer.result, answer.retry_after_seconds
        else:
            result, wait = answer, None
        if result is TriggerResult.ACCEPTED:
            return HTTPStatus.ACCEPTED, {"status": "accepted"}, {}
        if result is TriggerResult.UNKNOWN:
            return HTTPStatus.NOT_FOUND, {"error": "not found"}, {}
        if result is not TriggerResult.RATE_LIMITED:
            return HTTPStatus.CONFLICT, {"error": _CONFLICTS[result]}, {}
        retry_after = str(wait or self.config.retry_after_seconds)
        return HTTPStatus.TOO_MANY_REQUESTS, {"error": "rate limited"}, {"Retry-After": retry_after}

    def _declared_length(self) -> int:
        """The body's declared length, checked against the limit before anything is read."""
        values = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") is not None or not values:
            raise _Refused(HTTPStatus.LENGTH_REQUIRED, "Content-Length required")
        if len(set(values)) != 1 or _LENGTH.fullmatch(values[0].strip()) is None:
            raise _Refused(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
        length = int(values[0])
        if length > self.config.max_body_bytes:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        return length

    def _read_body(self, length: int) -> bytes:
        """Exactly ``length`` bytes, read in chunks within the body deadline."""
        if self._expects_continue and length:
            self.send_response_only(HTTPStatus.CONTINUE)
            self.end_headers()
        deadline = time.monotonic() + self.config.body_deadline
        parts: list[bytes] = []
        remaining = length
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError
            chunk = self.rfile.read1(min(remaining, _CHUNK))
            if not chunk:
                raise _Refused(HTTPStatus.BAD_REQUEST, "incomplete body")
            parts.append(chunk)
            remaining -= len(chunk)
        self._body_consumed = True
        return b"".join(parts)

    def handle_expect_100(self) -> bool:
        self._expects_continue = True  # answered in _read_body, after the cheap checks
        return True

    def _reply(
        self,
        status: HTTPStatus,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if self._body_pending():
            self._drain()

    def _body_pending(self) -> bool:
        """Whether the client announced a body this handler has not read."""
        headers = getattr(self, "headers", None)
        if self._body_consumed or headers is None:
            return False
        length = (headers.get("Content-Length") or "0").strip()
        return headers.get("Transfer-Encoding") is not None or length not in ("", "0")

    def _drain(self) -> None:
        """After an early answer: half-close, and discard what the client is still sending.

        Closing a socket with unread data makes the kernel reset the connection, and the
        client may then lose the answer. At most the body limit is discarded, for at most a
        second; nothing is kept.
        """
        self._body_consumed = True
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DRAIN_SECONDS)
            deadline = time.monotonic() + _DRAIN_SECONDS
            budget = self.config.max_body_bytes
            while budget > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(budget, _CHUNK))
                if not chunk:
                    return
                budget -= len(chunk)
        except OSError:
            return

    def _not_allowed(self) -> None:
        if match_route(self.path) is None:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
        else:
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method not allowed"})

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (bad request line, odd method), as JSON."""
        path = getattr(self, "path", None)
        if code == HTTPStatus.NOT_IMPLEMENTED and isinstance(path, str):
            self._not_allowed()  # an unknown method
            return
        self._reply(HTTPStatus(code), {"error": HTTPStatus(code).phrase.lower()})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The one line per request: method, path (no query), status. No headers, no body."""
        method = self.command if isinstance(self.command, str) else "-"
        path = loggable_path(getattr(self, "path", None))
        status = int(code) if isinstance(code, int) else code
        log.info("webhook %s %s %s", loggable_path(method, 16), path, status)

    def log_message(self, format: str, *args: Any) -> None:
        """The standard library's own notes (timeouts, bad request lines): debug only."""
        log.debug("webhook connection: %r", (format % args)[:200])
