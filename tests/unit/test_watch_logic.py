"""The watch state machine (``adapters.kube.watch.step``) and the re-list diff, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from infraagent.adapters.kube.events import MAX_NOTE_BYTES, cap_bytes, event_for
from infraagent.adapters.kube.watch import (
    Step,
    WatchEvent,
    relist_events,
    remember,
    step,
)
from infraagent.errors import KubeError, KubeForbidden


def _cm(name: str, rv: str, ns: str = "team") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
    }


def _status(code: int, reason: str) -> dict[str, Any]:
    return {"kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": "m"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"type": "BOOKMARK", "object": _cm("", "42")}, Step("42")),
        ({"type": "BOOKMARK", "object": {"metadata": {}}}, Step("10")),
        (
            {"type": "ADDED", "object": _cm("a", "11")},
            Step("11", WatchEvent("ADDED", _cm("a", "11"))),
        ),
        (
            {"type": "MODIFIED", "object": _cm("a", "12")},
            Step("12", WatchEvent("MODIFIED", _cm("a", "12"))),
        ),
        (
            {"type": "DELETED", "object": _cm("a", "13")},
            Step("13", WatchEvent("DELETED", _cm("a", "13"))),
        ),
        ({"type": "ERROR", "object": _status(410, "Expired")}, Step("10", relist=True)),
        ({"type": "ERROR", "object": _status(410, "Gone")}, Step("10", relist=True)),
    ],
)
def test_step_table(raw: dict[str, Any], expected: Step) -> None:
    assert step("10", raw) == expected


def test_bookmark_is_not_emitted() -> None:
    assert step("1", {"type": "BOOKMARK", "object": _cm("x", "7")}).emit is None


def test_other_error_raises_its_typed_kube_error() -> None:
    with pytest.raises(KubeForbidden) as caught:
        step("10", {"type": "ERROR", "object": _status(403, "Forbidden")})
    assert caught.value.status == 403
    with pytest.raises(KubeError) as other:
        step("10", {"type": "ERROR", "object": _status(500, "InternalError")})
    assert other.value.status == 500


@pytest.mark.parametrize(
    "raw",
    [{"type": "SURPRISE", "object": {}}, {"type": "ADDED"}, {"type": "ERROR", "object": "x"}],
)
def test_malformed_events_raise(raw: dict[str, Any]) -> None:
    with pytest.raises(KubeError):
        step("10", raw)


def test_relist_marks_adds_current_and_deletes_vanished() -> None:
    known: dict[tuple[str, str], dict[str, Any]] = {}
    for event in (WatchEvent("ADDED", _cm("keep", "1")), WatchEvent("ADDED", _cm("gone", "2"))):
        remember(known, event)
    emitted = relist_events(known, [_cm("keep", "5"), _cm("new", "6")], "9")
    assert [(e.type, e.object["metadata"].get("name")) for e in emitted] == [
        ("RELISTED", None),
        ("ADDED", "keep"),
        ("ADDED", "new"),
        ("DELETED", "gone"),
    ]
    assert emitted[0].object == {"metadata": {"resourceVersion": "9"}}
    for event in emitted:
        remember(known, event)
    assert set(known) == {("team", "keep"), ("team", "new")}


def test_remember_forgets_deleted_objects() -> None:
    known: dict[tuple[str, str], dict[str, Any]] = {}
    remember(known, WatchEvent("ADDED", _cm("a", "1")))
    remember(known, WatchEvent("DELETED", _cm("a", "2")))
    assert known == {}


def test_event_note_is_redacted_and_capped() -> None:
    secret = "password=hunter2hunter2"
    event = event_for(
        _cm("a", "1"),
        "Synced",
        f"{secret} " + "x" * 3000,
        "Warning",
        component="infraagent",
        instance="infraagent-test",
        now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert "hunter2" not in event["note"]
    assert len(event["note"].encode()) <= MAX_NOTE_BYTES
    assert event["metadata"]["namespace"] == "team"
    assert event["metadata"]["name"].startswith("a.")
    assert event["regarding"]["kind"] == "ConfigMap"
    assert event["eventTime"] == "2026-01-02T03:04:05.000000Z"


def test_cap_bytes_keeps_short_text_and_cuts_on_characters() -> None:
    assert cap_bytes("short", 10) == "short"
    cut = cap_bytes("é" * 100, 11)
    assert len(cut.encode()) <= 11
    assert cut.endswith("…")


def test_event_type_must_be_normal_or_warning() -> None:
    with pytest.raises(KubeError):
        event_for(
            _cm("a", "1"),
            "R",
            "m",
            "Info",  # type: ignore[arg-type]
            component="c",
            instance="i",
            now=datetime(2026, 1, 1, tzinfo=UTC),
        )
