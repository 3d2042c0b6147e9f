"""The webhook receiver: a small threaded HTTP server for signed hook calls.

``WebhookServer`` binds a host and port (port 0: a free one; ``url`` says which), serves
``HookHandler`` on a background thread, and stops cleanly; it is a context manager. Each
connection gets a socket timeout (10 s by default) and the body a deadline, and at most
``max_connections`` connections are served at once (more are closed unanswered), so slow
or numerous clients cannot hold threads forever.

Deliberately not here: TLS (terminate it in front, e.g. at an Ingress), secret storage
(``secret_for`` is injected) and the work a hook triggers (the injected callbacks).
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self

from infraagent.adapters.webhook.handler import HookHandler, ReceiverConfig
from infraagent.adapters.webhook.routes import (
    AgentTriggerCallback,
    FleetPushCallback,
    SecretLookup,
)

log = logging.getLogger("infraagent.adapters.webhook")

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_SOCKET_TIMEOUT: Final = 10.0
DEFAULT_BODY_DEADLINE: Final = 30.0
DEFAULT_MAX_CONNECTIONS: Final = 64
DEFAULT_RETRY_AFTER_SECONDS: Final = 60
_POLL_SECONDS: Final = 0.05  # how soon ``stop`` is noticed by the serving loop


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[HookHandler], limit: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._slots = threading.BoundedSemaphore(limit)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("webhook: connection limit reached; connection closed unanswered")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("webhook: connection ended abruptly")  # e.g. the client went away


class WebhookServer:
    """Receives ``POST /hooks/fleet/<ns>/<name>`` and ``POST /hooks/agents/<ns>/<name>``.

    Fleet pushes call ``on_fleet_push(namespace, name)``; agent triggers call
    ``on_agent_trigger(namespace, name)`` and map its ``TriggerResult`` to 202/404/409/429.
    Callbacks run on the request's thread and must be quick.
    """

    def __init__(
        self,
        *,
        secret_for: SecretLookup,
        on_fleet_push: FleetPushCallback,
        on_agent_trigger: AgentTriggerCallback,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        body_deadline: float = DEFAULT_BODY_DEADLINE,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS,
    ) -> None:
        if max_body_bytes < 0 or socket_timeout <= 0 or body_deadline <= 0:
            raise ValueError("limits and timeouts must be positive")
        if max_connections < 1 or retry_after_seconds < 1:
            raise ValueError("max_connections and retry_after_seconds must be at least 1")
        config = ReceiverConfig(
            secret_for=secret_for,
            on_fleet_push=on_fleet_push,
            on_agent_trigger=on_agent_trigger,
            max_body_bytes=max_body_bytes,
            body_deadline=body_deadline,
            retry_after_seconds=retry_after_seconds,
        )
        handler = type(
            "BoundHookHandler", (HookHandler,), {"config": config, "timeout": socket_timeout}
        )
        self._host = host
        self._port = port
        self._handler: type[HookHandler] = handler
        self._max_connections = max_connections
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the requested ones until ``start``)."""
        if self._server is None:
            return self._host, self._port
        bound = self._server.server_address
        return str(bound[0]), int(bound[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:43121`` (valid once started)."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        """Bind and serve on a background thread; raises ``OSError`` if the bind fails."""
        if self._server is not None:
            raise RuntimeError("the webhook server is already started")
        server = _Server((self._host, self._port), self._handler, self._max_connections)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name="webhook-server",
            daemon=True,
        )
        self._thread.start()
        log.info("webhook receiver listening on %s", self.url)

    def stop(self) -> None:
        """Stop accepting, close the socket, and wait for the serving thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
