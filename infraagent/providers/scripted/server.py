"""``ScriptedServer``: a local HTTP server that plays a model from a script.

It serves exactly the paths the real services serve: ``POST /v1/messages`` (Anthropic
Messages) and ``POST /v1/chat/completions`` (OpenAI Chat Completions). Point the Anthropic
SDK at ``server.url`` (it appends ``/v1/messages``) and the OpenAI SDK at
``server.url + "/v1"`` (it appends ``/chat/completions``); any other path is answered 404,
so a client with a wrong base URL fails here as it would against the real API.

Each request is recorded (``requests``), then answered in this order: unknown path → 404;
body not JSON → 400; a server started with ``api_key`` refuses a missing or wrong key with
401; a body the real API would refuse → 400; otherwise the next script entry (see
``script``) — none of the refusals consume an entry. Recorded headers have the values of
``authorization`` and ``x-api-key`` replaced by ``[REDACTED]``; ``credentials`` names the
credential headers that were present and ``credential_ok`` says whether the key matched.

Threads: one per connection (``ThreadingHTTPServer``); the script cursor, the prompt cache
and the record are guarded by locks. ``stop`` wakes handlers sleeping in a ``delay`` fault.
It deliberately does not stream, authenticate anything but one key, or persist anything.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from infraagent.providers.scripted import anthropic_wire, openai_wire
from infraagent.providers.scripted.common import Ids, PrefixCache, dump
from infraagent.providers.scripted.script import (
    Entry,
    Fault,
    Script,
    ScriptFault,
    ScriptTurn,
    load_script,
)

REDACTED = "[REDACTED]"
EXHAUSTED = "(scripted server: the script has no more turns)"
_CREDENTIAL_HEADERS = ("authorization", "x-api-key")


@dataclass(frozen=True, slots=True)
class _Wire:
    """One API's wire format: the functions of its ``*_wire`` module."""

    api: Literal["anthropic", "openai"]
    credential_ok: Callable[[dict[str, str], str], bool]
    check: Callable[[Any], str | None]
    reply: Callable[[dict[str, Any], ScriptTurn, Ids, PrefixCache], dict[str, Any]]
    error: Callable[[int, str, Fault | None, Any], dict[str, Any]]


_WIRES = {
    anthropic_wire.PATH: _Wire(
        "anthropic",
        anthropic_wire.credential_ok,
        anthropic_wire.check,
        anthropic_wire.reply,
        anthropic_wire.error,
    ),
    openai_wire.PATH: _Wire(
        "openai", openai_wire.credential_ok, openai_wire.check, openai_wire.reply, openai_wire.error
    ),
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it, and how it was answered.

    ``entry`` is the index of the script entry that answered (None: no entry consumed).
    """

    seq: int
    method: str
    path: str
    api: Literal["anthropic", "openai"] | None
    headers: Mapping[str, str]
    credentials: tuple[str, ...]
    credential_ok: bool | None
    body: Any
    status: int
    entry: int | None


@dataclass(slots=True)
class Answer:
    """How the server answers one request (``delay``: seconds to sleep first)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    entry: int | None = None


class ScriptedServer:
    """Plays ``script`` on ``host:port`` (port 0: an ephemeral port) once started."""

    def __init__(
        self,
        script: Script | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._script = script if isinstance(script, Script) else load_script(script)
        self._address = (host, port)
        self._api_key = api_key
        self._log = log
        self._lock = threading.Lock()
        self._next_entry = 0
        self._records: list[RecordedRequest] = []
        self._ids = Ids(seed=f"{id(self)}")
        self._cache = PrefixCache()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScriptedServer:
        """Bind and serve in a background thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the scripted server is already running")
        self._stopping.clear()
        self._httpd = _HTTPServer(self._address, _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-llm",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port``: the Anthropic SDK's base URL."""
        if self._httpd is None:
            raise RuntimeError("the scripted server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        """``http://host:port/v1``: the OpenAI SDK's base URL."""
        return f"{self.url}/v1"

    @property
    def requests(self) -> tuple[RecordedRequest, ...]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return tuple(self._records)

    @property
    def remaining(self) -> int:
        """Script entries not played yet."""
        with self._lock:
            return len(self._script.turns) - self._next_entry

    # -- answering -------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        """Answer one request and record it (the handler threads call this; unit tests may
        call it directly, without a socket). A ``delay`` is left to the caller."""
        path = urlsplit(target).path
        wire = _WIRES.get(path) if method == "POST" else None
        body = _json(raw)
        ok = None
        if wire is not None and self._api_key is not None:
            ok = wire.credential_ok(headers, self._api_key)
        answer = self._answer(wire, body, ok, f"{method} {path}")
        with self._lock:
            self._records.append(
                RecordedRequest(
                    seq=len(self._records),
                    method=method,
                    path=path,
                    api=wire.api if wire is not None else None,
                    headers=_redacted(headers),
                    credentials=tuple(h for h in _CREDENTIAL_HEADERS if h in headers),
                    credential_ok=ok,
                    body=body,
                    status=answer.status,
                    entry=answer.entry,
                )
            )
        if self._log is not None:
            played = "" if answer.entry is None else f" (script entry {answer.entry})"
            self._log(f"{method} {path} -> {answer.status}{played}")
        return answer

    def sleep(self, seconds: float) -> None:
        """Sleep for a ``delay`` fault; ``stop`` cuts it short."""
        self._stopping.wait(seconds)

    def request_id(self) -> str:
        """A fresh ``request-id`` response header value."""
        return self._ids.make("req_01", 22)

    def _answer(self, wire: _Wire | None, body: Any, ok: bool | None, what: str) -> Answer:
        if wire is None:
            message = (
                f"no route for {what}; the scripted server serves POST {anthropic_wire.PATH} "
                f"and POST {openai_wire.PATH}"
            )
            return Answer(
                404, {"type": "error", "error": {"type": "not_found_error", "message": message}}
            )
        if body is None:
            return Answer(400, wire.error(400, "the body is not valid JSON", None, body))
        if ok is False:
            return Answer(401, wire.error(401, "invalid API key", None, body))
        problem = wire.check(body)
        if problem:
            return Answer(400, wire.error(400, problem, None, body))
        index, entry = self._take()
        if isinstance(entry, ScriptFault):
            return _fault_answer(wire, entry.fault, body, index)
        turn = entry if entry is not None else ScriptTurn(text=EXHAUSTED)
        return Answer(200, wire.reply(body, turn, self._ids, self._cache), entry=index)

    def _take(self) -> tuple[int | None, Entry | None]:
        with self._lock:
            if self._next_entry >= len(self._script.turns):
                return None, None
            index = self._next_entry
            self._next_entry += 1
            return index, self._script.turns[index]


def _fault_answer(wire: _Wire, fault: Fault, body: Any, index: int | None) -> Answer:
    status = fault.answer_status
    message = fault.message or _DEFAULT_MESSAGES.get(status, f"scripted fault: HTTP {status}")
    headers = {}
    if fault.retry_after is not None:
        seconds = fault.retry_after
        headers["retry-after"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    error_body = wire.error(status, message, fault, body)
    return Answer(status, error_body, headers, fault.delay or 0.0, index)


_DEFAULT_MESSAGES = {
    401: "invalid x-api-key",
    403: "your API key does not have permission to use the specified resource",
    429: "rate limit exceeded (scripted)",
    500: "internal server error (scripted)",
    503: "service unavailable (scripted)",
    504: "the request timed out (scripted)",
    529: "overloaded (scripted)",
}


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        return None


def _redacted(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k in _CREDENTIAL_HEADERS else v) for k, v in headers.items()}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], app: ScriptedServer
    ) -> None:
        self.app = app
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = 60
    server: _HTTPServer

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        app = self.server.app
        answer = app.handle(method, self.path, headers, raw)
        if answer.delay:
            app.sleep(answer.delay)
        payload = dump(answer.body).encode("utf-8")
        try:
            self.send_response(answer.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.send_header("request-id", app.request_id())
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (timed out) while we slept
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (``log`` reports requests instead)."""
