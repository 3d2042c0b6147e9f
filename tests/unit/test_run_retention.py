"""Retention of AgentRuns: by age, with a minimum kept per agent, never an unfinished run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infraagent.operator.runs import retention, run_agent, run_time

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _run(
    name: str,
    age: timedelta,
    *,
    agent: str = "scout",
    phase: str | None = "Succeeded",
    namespace: str = "ops",
) -> dict[str, Any]:
    status = {"phase": phase, "startTime": (NOW - age).isoformat().replace("+00:00", "Z")}
    return {
        "apiVersion": "core.infraagent.io/v1alpha1",
        "kind": "AgentRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"infraagent.io/agent": agent},
        },
        "spec": {"agentRef": agent},
        "status": status if phase else {},
    }


CASES: list[tuple[str, list[dict[str, Any]], int, list[str]]] = [
    ("nothing to do", [], 1, []),
    ("young runs stay", [_run("a", DAY), _run("b", 2 * DAY)], 0, []),
    ("old runs go", [_run("a", 8 * DAY), _run("b", 9 * DAY), _run("c", DAY)], 0, ["a", "b"]),
    ("exactly max_age stays", [_run("a", 7 * DAY)], 0, []),
    (
        "the newest are kept however old",
        [_run("a", 10 * DAY), _run("b", 11 * DAY), _run("c", 12 * DAY)],
        2,
        ["c"],
    ),
    ("the minimum keeps everything", [_run("a", 10 * DAY), _run("b", 11 * DAY)], 5, []),
    (
        "unfinished runs are never deleted and do not count",
        [
            _run("run", 30 * DAY, phase="Running"),
            _run("pend", 30 * DAY, phase="Pending"),
            _run("new", 30 * DAY, phase=None),
            _run("old", 20 * DAY),
            _run("older", 21 * DAY),
        ],
        1,
        ["older"],
    ),
    (
        "every terminal phase counts",
        [
            _run(p.lower(), 10 * DAY + i * DAY, phase=p)
            for i, p in enumerate(["Succeeded", "Failed", "Escalated", "Blocked", "Interrupted"])
        ],
        1,
        ["blocked", "escalated", "failed", "interrupted"],
    ),
    (
        "the minimum is per agent",
        [
            _run("s1", 10 * DAY, agent="scout"),
            _run("s2", 11 * DAY, agent="scout"),
            _run("v1", 12 * DAY, agent="vigil"),
            _run("v2", 13 * DAY, agent="vigil"),
            _run("v3", DAY, agent="vigil"),
            _run("h1", 40 * DAY, agent="herald"),
        ],
        1,
        ["s2", "v1", "v2"],
    ),
    (
        "the same agent name in two namespaces is two agents",
        [
            _run("a1", 10 * DAY, namespace="ops"),
            _run("a2", 11 * DAY, namespace="ops"),
            _run("b1", 12 * DAY, namespace="dev"),
        ],
        1,
        ["a2"],
    ),
]


@pytest.mark.parametrize(
    ("runs", "keep", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_retention_table(runs: list[dict[str, Any]], keep: int, expected: list[str]) -> None:
    assert retention(runs, now=NOW, max_age=7 * DAY, keep_per_agent=keep) == expected


def test_retention_is_pure_and_order_independent() -> None:
    runs = [_run("a", 10 * DAY), _run("b", 11 * DAY), _run("c", 12 * DAY)]
    snapshot = [dict(r) for r in runs]
    forward = retention(runs, now=NOW, max_age=7 * DAY, keep_per_agent=1)
    backward = retention(runs[::-1], now=NOW, max_age=7 * DAY, keep_per_agent=1)
    assert forward == backward == ["b", "c"]
    assert runs == snapshot


def test_the_age_falls_back_to_the_creation_time_and_the_agent_to_the_spec() -> None:
    run = {
        "metadata": {"name": "x", "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"agentRef": "forge"},
        "status": {"phase": "Failed"},
    }
    assert run_time(run) == datetime(2026, 11, 1, tzinfo=UTC)
    assert run_agent(run) == "forge"
    assert retention([run], now=NOW, max_age=7 * DAY, keep_per_agent=0) == ["x"]
