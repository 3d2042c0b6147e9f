"""The webhook receiver over real HTTP on loopback: signatures, limits, routes, triggers.

Every test talks to a started ``WebhookServer`` through ``http.client`` or a raw socket
(for requests no well-behaved client sends). Threads are synchronised with events, never
with sleeps.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from infraagent.adapters.webhook import (
    SIGNATURE_HEADER,
    AgentTriggerOutcome,
    HookKind,
    KeyedCoalescingTrigger,
    TriggerResult,
    WebhookServer,
    sign,
)

SECRET = b"fleet-webhook-secret-4711"
AGENT_SECRET = b"agent-webhook-secret-0815"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()
WAIT = 10.0  # upper bound for a thread hand-over; never reached when things work


@dataclass
class Recorder:
    """The receiver's collaborators: secrets by object, and what the callbacks were asked."""

    secrets: dict[tuple[HookKind, str, str], bytes] = field(default_factory=dict)
    pushes: list[tuple[str, str]] = field(default_factory=list)
    triggers: list[tuple[str, str]] = field(default_factory=list)
    agent_answer: TriggerResult | AgentTriggerOutcome = TriggerResult.ACCEPTED
    forward_to: KeyedCoalescingTrigger[tuple[str, str]] | None = None  # as the main job wires it

    def secret_for(self, kind: HookKind, namespace: str, name: str) -> bytes | None:
        return self.secrets.get((kind, namespace, name))

    def on_fleet_push(self, namespace: str, name: str) -> None:
        self.pushes.append((namespace, name))
        if self.forward_to is not None:
            self.forward_to.request((namespace, name))

    def on_agent_trigger(self, namespace: str, name: str) -> TriggerResult | AgentTriggerOutcome:
        self.triggers.append((namespace, name))
        return self.agent_answer


def _serve(recorder: Recorder, **options: Any) -> WebhookServer:
    recorder.secrets[("fleet", "infra", "main")] = SECRET
    recorder.secrets[("agent", "ops", "pod-doctor")] = AGENT_SECRET
    return WebhookServer(
        secret_for=recorder.secret_for,
        on_fleet_push=recorder.on_fleet_push,
        on_agent_trigger=recorder.on_agent_trigger,
        **options,
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[WebhookServer]:
    with _serve(recorder) as started:
        yield started


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


def call(
    server: WebhookServer,
    path: str,
    body: bytes = PUSH,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Answer:
    host, port = server.address
    conn = http.client.HTTPConnection(host, port, timeout=WAIT)
    try:
        conn.request(method, path, body=body if method != "GET" else None, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()


def push(server: WebhookServer, path: str = "/hooks/fleet/infra/main", **extra: str) -> Answer:
    headers = {"X-GitHub-Event": "push", SIGNATURE_HEADER: sign(SECRET, PUSH), **extra}
    return call(server, path, PUSH, headers)


def raw(server: WebhookServer, request: bytes) -> bytes:
    """Send bytes as they are; everything the server answers before it closes."""
    with socket.create_connection(server.address, timeout=WAIT) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


# --- fleet pushes ------------------------------------------------------------------------


def test_a_signed_push_triggers_one_reconcile_of_that_source(
    server: WebhookServer, recorder: Recorder
) -> None:
    answer = push(server)
    assert answer.status == 202
    assert answer.json == {"status": "accepted"}
    assert answer.headers["Content-Type"] == "application/json"
    assert recorder.pushes == [("infra", "main")]


@pytest.mark.parametrize(
    "signature",
    [
        None,
        sign(b"a guessed secret", PUSH),
        sign(SECRET, PUSH + b" "),  # signed some other body
        sign(AGENT_SECRET, PUSH),  # another hook's secret
        "sha256=" + "0" * 64,
        "garbage",
    ],
)
def test_unsigned_or_badly_signed_pushes_are_refused(
    server: WebhookServer, recorder: Recorder, signature: str | None
) -> None:
    headers = {"X-GitHub-Event": "push"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    answer = call(server, "/hooks/fleet/infra/main", PUSH, headers)
    assert answer.status == 401
    assert recorder.pushes == []
    assert SECRET not in answer.body
    assert signature is None or signature.encode() not in answer.body


def test_a_ping_answers_without_reconciling_but_only_when_signed(
    server: WebhookServer, recorder: Recorder
) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    signed = {"X-GitHub-Event": "ping", SIGNATURE_HEADER: sign(SECRET, body)}
    assert call(server, "/hooks/fleet/infra/main", body, signed).status == 200
    unsigned = call(server, "/hooks/fleet/infra/main", body, {"X-GitHub-Event": "ping"})
    assert unsigned.status == 401
    assert recorder.pushes == []


def test_other_events_are_accepted_and_ignored(server: WebhookServer, recorder: Recorder) -> None:
    for event in ("pull_request", "issues", "create"):
        answer = push(server, **{"X-GitHub-Event": event})
        assert (answer.status, answer.json) == (202, {"status": "ignored"})
    assert recorder.pushes == []


def test_a_push_without_an_event_header_is_a_bad_request(
    server: WebhookServer, recorder: Recorder
) -> None:
    answer = call(server, "/hooks/fleet/infra/main", PUSH, {SIGNATURE_HEADER: sign(SECRET, PUSH)})
    assert answer.status == 400
    assert recorder.pushes == []


def test_a_source_without_a_webhook_looks_like_no_source(
    server: WebhookServer, recorder: Recorder
) -> None:
    recorder.secrets[("fleet", "infra", "no-hook")] = b""  # exists, webhook secret empty
    unknown = push(server, "/hooks/fleet/infra/unknown")
    no_hook = push(server, "/hooks/fleet/infra/no-hook")
    nowhere = push(server, "/somewhere/else")
    assert unknown.status == no_hook.status == nowhere.status == 404
    assert unknown.body == no_hook.body == nowhere.body
    assert recorder.pushes == []


def test_secrets_are_looked_up_per_kind(server: WebhookServer, recorder: Recorder) -> None:
    # The agent's secret does not open the fleet route of the same name, and vice versa.
    recorder.secrets[("agent", "infra", "main")] = AGENT_SECRET
    headers = {"X-GitHub-Event": "push", SIGNATURE_HEADER: sign(AGENT_SECRET, PUSH)}
    assert call(server, "/hooks/fleet/infra/main", PUSH, headers).status == 401
    assert recorder.pushes == []


# --- body limits -------------------------------------------------------------------------


def _headers_only(path: str, length: int, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_an_oversized_body_is_refused_from_its_length_without_being_read(
    server: WebhookServer, recorder: Recorder
) -> None:
    # Only the headers are sent: a server that waited for the body would never answer 413.
    with socket.create_connection(server.address, timeout=WAIT) as sock:
        sock.sendall(_headers_only("/hooks/fleet/infra/main", 1024 * 1024 + 1))
        answer = _read_all(sock)
    assert _status(answer) == 413
    assert recorder.pushes == []


def test_a_body_at_the_limit_is_accepted_and_one_byte_more_is_not(recorder: Recorder) -> None:
    with _serve(recorder, max_body_bytes=1024) as server:
        body = b"{" + b" " * 1022 + b"}"
        headers = {"X-GitHub-Event": "push", SIGNATURE_HEADER: sign(SECRET, body)}
        assert call(server, "/hooks/fleet/infra/main", body, headers).status == 202
        longer = body + b" "
        headers[SIGNATURE_HEADER] = sign(SECRET, longer)
        assert call(server, "/hooks/fleet/infra/main", longer, headers).status == 413
    assert recorder.pushes == [("infra", "main")]


def test_a_client_that_expects_continue_is_refused_before_sending_a_large_body(
    server: WebhookServer,
) -> None:
    request = _headers_only("/hooks/fleet/infra/main", 5 * 1024 * 1024, "Expect: 100-continue")
    answer = raw(server, request)
    assert _status(answer) == 413
    assert b"100 Continue" not in answer


def test_a_client_that_expects_continue_gets_it_and_is_served(
    server: WebhookServer, recorder: Recorder
) -> None:
    head = _headers_only(
        "/hooks/fleet/infra/main",
        len(PUSH),
        "Expect: 100-continue",
        "X-GitHub-Event: push",
        f"{SIGNATURE_HEADER}: {sign(SECRET, PUSH)}",
    )
    with socket.create_connection(server.address, timeout=WAIT) as sock:
        sock.sendall(head)
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim.startswith(b"HTTP/1.1 100")
        sock.sendall(PUSH)
        assert _status(_read_all(sock)) == 202
    assert recorder.pushes == [("infra", "main")]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([], 411),  # no Content-Length at all
        (["Transfer-Encoding: chunked"], 411),
        (["Content-Length: ten"], 400),
        (["Content-Length: -1"], 400),
        (["Content-Length: 2", "Content-Length: 3"], 400),
        (["Content-Length: \u0661"], 400),  # a digit, but not an ASCII one
    ],
)
def test_bodies_need_one_valid_length(
    server: WebhookServer, recorder: Recorder, headers: list[str], status: int
) -> None:
    lines = ["POST /hooks/fleet/infra/main HTTP/1.1", "Host: test", *headers]
    answer = raw(server, ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    assert _status(answer) == status
    assert recorder.pushes == []


# --- agent triggers ----------------------------------------------------------------------


def agent_call(server: WebhookServer, body: bytes = b"{}") -> Answer:
    headers = {SIGNATURE_HEADER: sign(AGENT_SECRET, body), "Content-Type": "application/json"}
    return call(server, "/hooks/agents/ops/pod-doctor", body, headers)


@pytest.mark.parametrize(
    ("result", "status", "retry_after"),
    [
        (TriggerResult.ACCEPTED, 202, None),
        (TriggerResult.ALREADY_RUNNING, 409, None),
        (TriggerResult.RATE_LIMITED, 429, "60"),
        (AgentTriggerOutcome(result=TriggerResult.RATE_LIMITED, retry_after_seconds=17), 429, "17"),
        (AgentTriggerOutcome(result=TriggerResult.ACCEPTED), 202, None),
        (AgentTriggerOutcome.rate_limited(timedelta(seconds=90.2)), 429, "91"),
        (AgentTriggerOutcome.rate_limited(None), 429, "60"),
        (TriggerResult.PAUSED, 409, None),
        (TriggerResult.STALLED, 409, None),
        (TriggerResult.UNKNOWN, 404, None),
    ],
)
def test_the_schedulers_answer_to_an_agent_trigger_becomes_the_status(
    server: WebhookServer,
    recorder: Recorder,
    result: TriggerResult | AgentTriggerOutcome,
    status: int,
    retry_after: str | None,
) -> None:
    recorder.agent_answer = result
    answer = agent_call(server)
    assert answer.status == status
    assert answer.headers.get("Retry-After") == retry_after
    assert recorder.triggers == [("ops", "pod-doctor")]


def test_agent_triggers_are_signed_with_the_agents_own_secret(
    server: WebhookServer, recorder: Recorder
) -> None:
    wrong = {SIGNATURE_HEADER: sign(SECRET, b"{}")}
    assert call(server, "/hooks/agents/ops/pod-doctor", b"{}", wrong).status == 401
    assert push(server, "/hooks/agents/ops/no-webhook-trigger").status == 404
    assert recorder.triggers == []


def test_a_github_ping_to_an_agent_hook_runs_nothing(
    server: WebhookServer, recorder: Recorder
) -> None:
    headers = {"X-GitHub-Event": "ping", SIGNATURE_HEADER: sign(AGENT_SECRET, b"{}")}
    assert call(server, "/hooks/agents/ops/pod-doctor", b"{}", headers).status == 200
    assert recorder.triggers == []


def test_a_failing_callback_is_a_500_that_says_nothing(
    server: WebhookServer, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(namespace: str, name: str) -> None:
        raise RuntimeError(f"cannot reach the reconciler with token {SECRET.decode()}")

    recorder.on_fleet_push = explode  # type: ignore[method-assign]
    with _serve(recorder) as failing, caplog.at_level(logging.DEBUG):
        answer = push(failing)
    assert answer.status == 500
    assert answer.json == {"error": "internal error"}
    assert SECRET.decode() not in caplog.text


# --- routes and methods ------------------------------------------------------------------


def test_wrong_methods_on_hooks_are_405_and_other_paths_404(server: WebhookServer) -> None:
    assert call(server, "/hooks/fleet/infra/main", method="GET").status == 405
    assert call(server, "/hooks/fleet/infra/main", method="PUT").headers["Allow"] == "POST"
    assert call(server, "/hooks/agents/ops/pod-doctor", method="DELETE").status == 405
    assert call(server, "/", method="GET").status == 404
    assert call(server, "/hooks/fleet/infra", method="POST").status == 404
    odd = raw(server, b"BREW /hooks/fleet/infra/main HTTP/1.1\r\nHost: t\r\n\r\n")
    assert _status(odd) == 405


def test_one_log_line_per_request_without_secrets_signatures_or_bodies(
    server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    signature = sign(SECRET, PUSH)
    with caplog.at_level(logging.DEBUG, logger="infraagent.adapters.webhook"):
        push(server, "/hooks/fleet/infra/main?token=query-secret")
        call(server, "/hooks/fleet/infra/main", PUSH, {SIGNATURE_HEADER: "sha256=" + "1" * 64})
        call(server, "/elsewhere", method="GET")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("webhook ")]
    assert lines == [
        "webhook POST /hooks/fleet/infra/main 202",
        "webhook POST /hooks/fleet/infra/main 401",
        "webhook GET /elsewhere 404",
    ]
    for forbidden in (SECRET.decode(), signature, "1" * 64, "query-secret", "refs/heads"):
        assert forbidden not in caplog.text


# --- slow and many clients ---------------------------------------------------------------


def test_a_client_stalling_in_its_headers_is_disconnected(recorder: Recorder) -> None:
    with (
        _serve(recorder, socket_timeout=0.3) as server,
        socket.create_connection(server.address, timeout=WAIT) as sock,
    ):
        sock.sendall(b"POST /hooks/fleet/infra/main HTTP/1.1\r\nHost: t\r\n")
        assert _read_all(sock) == b""  # closed by the server, no answer
    assert recorder.pushes == []


def test_a_client_stalling_in_its_body_gets_408(recorder: Recorder) -> None:
    with (
        _serve(recorder, socket_timeout=0.3) as server,
        socket.create_connection(server.address, timeout=WAIT) as sock,
    ):
        sock.sendall(_headers_only("/hooks/fleet/infra/main", 100) + b"0123456789")
        assert _status(_read_all(sock)) == 408
    assert recorder.pushes == []


def test_connections_beyond_the_limit_are_closed_unanswered(recorder: Recorder) -> None:
    # The server would wait a minute for headers; the third connection is closed at once.
    with _serve(recorder, max_connections=2, socket_timeout=60) as server:
        idle = [socket.create_connection(server.address, timeout=WAIT) for _ in range(2)]
        try:
            with socket.create_connection(server.address, timeout=WAIT) as third:
                assert _read_all(third) == b""
        finally:
            for sock in idle:
                sock.close()


def test_port_zero_binds_a_free_port_and_stop_releases_it(recorder: Recorder) -> None:
    first, second = _serve(recorder), _serve(recorder)
    with first, second:
        assert first.address[1] != 0
        assert first.address[1] != second.address[1]
        assert first.url == f"http://127.0.0.1:{first.address[1]}"
        assert push(first).status == 202
        address = first.address
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=WAIT).close()


# --- bursts through the coalescing trigger -----------------------------------------------


class _Reconciler:
    """A reconcile that signals its start and waits to be let go."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.runs: list[tuple[str, str]] = []

    def __call__(self, source: tuple[str, str]) -> None:
        self.runs.append(source)
        self.started.set()
        assert self.release.wait(WAIT)


def test_ten_pushes_during_a_reconcile_cause_exactly_one_more(recorder: Recorder) -> None:
    reconciler = _Reconciler()
    with KeyedCoalescingTrigger[tuple[str, str]](reconciler, name="reconcile") as trigger:
        recorder.forward_to = trigger
        with _serve(recorder) as server:
            trigger.request(("infra", "main"))  # a poll's reconcile is under way
            assert reconciler.started.wait(WAIT)
            statuses = [push(server).status for _ in range(10)]
            reconciler.release.set()
            assert trigger.wait_idle(WAIT)
    assert statuses == [202] * 10
    assert reconciler.runs == [("infra", "main")] * 2
    assert len(recorder.pushes) == 10


def test_a_burst_of_ten_pushes_costs_the_reconcile_it_starts_and_one_more(
    recorder: Recorder,
) -> None:
    # The first push starts a reconcile; the nine after it, arriving while it runs, merge.
    reconciler = _Reconciler()
    with KeyedCoalescingTrigger[tuple[str, str]](reconciler) as trigger:
        recorder.forward_to = trigger
        with _serve(recorder) as server:
            assert push(server).status == 202
            assert reconciler.started.wait(WAIT)
            assert [push(server).status for _ in range(9)] == [202] * 9
            reconciler.release.set()
            assert trigger.wait_idle(WAIT)
    assert len(reconciler.runs) == 2
    assert len(recorder.pushes) == 10
