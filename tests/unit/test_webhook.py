"""Webhook pieces without a socket: signatures, routes, and the coalescing trigger."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from pydantic import ValidationError

from infraagent.adapters.webhook import (
    AgentTriggerOutcome,
    CoalescingTrigger,
    HookRoute,
    KeyedCoalescingTrigger,
    TriggerResult,
    match_route,
    sign,
    verify,
)
from infraagent.adapters.webhook.routes import loggable_path

WAIT = 10.0  # generous upper bound for a thread hand-over; never reached when things work

# --- signatures --------------------------------------------------------------------------


def test_signature_matches_githubs_documented_example() -> None:
    # The example from GitHub's "Validating webhook deliveries" documentation.
    assert sign(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_a_correct_signature_verifies_in_either_hex_case() -> None:
    header = sign(b"secret", b"payload")
    assert verify(b"secret", b"payload", header)
    assert verify(b"secret", b"payload", "sha256=" + header.removeprefix("sha256=").upper())


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        (b"other", b"payload", sign(b"secret", b"payload")),  # wrong secret
        (b"secret", b"payload!", sign(b"secret", b"payload")),  # body changed
        (b"secret", b"payload", None),  # unsigned
        (b"secret", b"payload", ""),
        (b"secret", b"payload", sign(b"secret", b"payload")[:-2]),  # truncated
        (b"secret", b"payload", "sha1=" + sign(b"secret", b"payload")[7:]),  # wrong scheme
        (b"secret", b"payload", sign(b"secret", b"payload") + "00"),  # too long
        (b"secret", b"payload", "sha256=" + "é" * 64),  # not hex, not even ASCII
        (b"", b"payload", sign(b"", b"payload")),  # an empty secret proves nothing
    ],
)
def test_anything_but_the_right_signature_is_refused(
    secret: bytes, body: bytes, header: str | None
) -> None:
    assert not verify(secret, body, header)


# --- routes ------------------------------------------------------------------------------


def test_routes_name_the_object_and_ignore_the_query() -> None:
    assert match_route("/hooks/fleet/infra/main") == HookRoute(
        kind="fleet", namespace="infra", name="main"
    )
    assert match_route("/hooks/agents/ops/pod-doctor.v2?x=1") == HookRoute(
        kind="agent", namespace="ops", name="pod-doctor.v2"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/hooks/fleet/infra",
        "/hooks/fleet/infra/main/extra",
        "/hooks/fleet/infra/main/",
        "/hooks/agent/ops/a",  # the route is plural
        "/hooks/fleets/infra/main",
        "/hooks/fleet/Infra/main",  # not a Kubernetes name
        "/hooks/fleet/infra/ma%2Fin",
        "/hooks/fleet/" + "n" * 64 + "/main",  # namespaces are DNS labels (63)
        "/hooks/fleet/infra/" + "a" * 254,
        "/hooks/fleet/infra/-main",
        "//hooks/fleet/infra/main",
    ],
)
def test_paths_that_are_not_hooks_match_nothing(path: str) -> None:
    assert match_route(path) is None


def test_log_paths_lose_their_query_and_control_characters() -> None:
    assert loggable_path("/hooks/fleet/a/b?token=abc") == "/hooks/fleet/a/b"
    assert loggable_path("/x\r\nforged line") == "/x??forged?line"
    assert loggable_path(None) == "-"
    assert len(loggable_path("/" + "a" * 500)) == 120


def test_a_retry_after_is_rounded_up_to_whole_seconds() -> None:
    assert AgentTriggerOutcome.rate_limited(timedelta(seconds=0.01)).retry_after_seconds == 1
    assert AgentTriggerOutcome.rate_limited(timedelta(minutes=2)).retry_after_seconds == 120
    assert AgentTriggerOutcome.rate_limited(None).retry_after_seconds is None


def test_results_carry_the_schedulers_answers_by_value() -> None:
    assert [r.value for r in TriggerResult] == [
        "accepted",
        "already-running",
        "rate-limited",
        "paused",
        "stalled",
        "unknown",
    ]


def test_a_retry_after_must_be_a_positive_number_of_seconds() -> None:
    with pytest.raises(ValidationError):
        AgentTriggerOutcome(result=TriggerResult.RATE_LIMITED, retry_after_seconds=0)
    with pytest.raises(ValidationError):
        AgentTriggerOutcome(result=TriggerResult.RATE_LIMITED, unknown=1)  # type: ignore[call-arg]


# --- coalescing --------------------------------------------------------------------------


class _BlockingRun:
    """A run that signals when it starts and waits to be released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls: list[object] = []
        self._lock = threading.Lock()

    def __call__(self, key: object = None) -> None:
        with self._lock:
            self.calls.append(key)
        self.started.set()
        assert self.release.wait(WAIT)


def test_ten_requests_during_a_run_cause_exactly_one_more_run() -> None:
    run = _BlockingRun()
    with CoalescingTrigger(run) as trigger:
        assert trigger.request()
        assert run.started.wait(WAIT)
        merged = [trigger.request() for _ in range(10)]
        assert merged == [True] + [False] * 9  # the first is pending, the rest join it
        run.release.set()
        assert trigger.wait_idle(WAIT)
    assert len(run.calls) == 2
    assert trigger.completed_runs == 2


def test_requests_before_start_merge_into_one_run() -> None:
    run = _BlockingRun()
    run.release.set()
    trigger = CoalescingTrigger(run)
    for _ in range(5):
        trigger.request()
    with trigger:
        assert trigger.wait_idle(WAIT)
    assert len(run.calls) == 1


def test_a_failing_run_is_logged_and_the_worker_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []
    failed = threading.Event()

    def run() -> None:
        calls.append(1)
        if len(calls) == 1:
            failed.set()
            raise RuntimeError("token=hunter2")

    with CoalescingTrigger(run, name="reconcile") as trigger:
        trigger.request()
        assert failed.wait(WAIT)
        assert trigger.wait_idle(WAIT)
        trigger.request()
        assert trigger.wait_idle(WAIT)
    assert len(calls) == 2
    assert "reconcile: run failed: RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text


def test_stop_drops_pending_requests_and_later_ones() -> None:
    run = _BlockingRun()
    trigger = CoalescingTrigger(run)
    trigger.start()
    trigger.request()
    assert run.started.wait(WAIT)
    trigger.request()  # pending behind the run in progress
    stopper = threading.Thread(target=trigger.stop)
    stopper.start()
    run.release.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert not trigger.request()
    assert len(run.calls) == 1


def test_each_key_is_coalesced_on_its_own_in_first_requested_order() -> None:
    run = _BlockingRun()
    with KeyedCoalescingTrigger[tuple[str, str]](run) as trigger:
        trigger.request(("infra", "a"))
        assert run.started.wait(WAIT)
        for _ in range(5):
            trigger.request(("infra", "b"))
            trigger.request(("infra", "a"))
        run.release.set()
        assert trigger.wait_idle(WAIT)
    assert run.calls == [("infra", "a"), ("infra", "b"), ("infra", "a")]


def test_a_trigger_starts_only_once() -> None:
    with CoalescingTrigger(lambda: None) as trigger, pytest.raises(RuntimeError):
        trigger.start()
