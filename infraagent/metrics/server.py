"""The ``/metrics`` HTTP endpoint of one registry, and how to stop it.

``start`` wraps prometheus_client's ``start_http_server`` (which, since 0.16, returns the
WSGI server and its daemon thread) in a ``MetricsServer`` that knows the port it really
bound (ask for port 0 to get a free one) and whose ``stop()`` shuts the server down, closes
its socket (the port is free again when ``stop()`` returns) and joins the thread.

Deliberately not here: TLS and authentication (put the endpoint behind the cluster's own
network policy or a sidecar), and the metric definitions (``recorder``).
"""

from __future__ import annotations

import threading
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
"""The Content-Type of ``Metrics.render()``'s bytes (the classic text format, what the
endpoint answers a scraper that sends no Accept header), for serving them elsewhere."""

_JOIN_SECONDS: Final = 5.0


class MetricsServer:
    """A running ``/metrics`` endpoint; a context manager that stops it on exit."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on (the free one chosen when asked for port 0)."""
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """``http://host:port/metrics`` (IPv6 hosts bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        """Stop serving and free the port; calling it again does nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(_JOIN_SECONDS)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``host:port`` from a daemon thread."""
    server, thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, thread)
