"""Run summaries as Markdown: every section a reader needs, nothing a model can inject,
no secret, the same bytes for the same run, and the path on the runs branch.

The Markdown is parsed with markdown-it-py (CommonMark + tables, raw HTML enabled, as a Git
host renders it; it is installed with import-linter's ``rich``) so the escaping is judged by
what a reader would see, not by string matching alone.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import ValidationError

from infraagent.models.agentrun import MAX_REPORT_CHARS, TRUNCATION_MARKER, truncate_text
from infraagent.operator.summary_render import parse_run, render_summary, summary_path
from infraagent.redaction import Redactor

API = "core.infraagent.io/v1alpha1"
GITHUB_TOKEN = "ghp_" + "Q" * 36
API_KEY = "sk-live-4f9c2b7e1d8a6f3c5e0b9d2a7c4e1f8b"
INJECTION = "restarts | 5 <img src=x onerror=alert(1)> [click](https://evil.example) ![i](x.png)"


def _entry(seq: int, **fields: Any) -> dict[str, Any]:
    base = {
        "seq": seq,
        "time": f"2026-11-27T10:00:0{seq}Z",
        "tool": "kubectl",
        "rule": "autonomy",
        "reason": "within the agent's autonomy",
    }
    return {**base, **fields}


def rich_run() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "AgentRun",
        "metadata": {
            "name": "vigil-x7k2p",
            "namespace": "ops",
            "creationTimestamp": "2026-11-27T23:59:58Z",
            "annotations": {"unrelated": "changes do not matter"},
        },
        "spec": {
            "agentRef": "vigil",
            "environmentRef": "prod",
            "trigger": "scheduled",
            "modelUsed": "anthropic/claude-sonnet",
            "autonomy": "automate-safe",
            "scheduledTime": "2026-11-27T23:59:58Z",
        },
        "status": {
            "phase": "Escalated",
            "reason": "DataMutationDenied",
            "startTime": "2026-11-28T00:00:01Z",  # the next day in UTC: the path uses it
            "completionTime": "2026-11-28T00:01:06Z",
            "scheduleLagMs": 3000,
            "usage": {
                "tokensIn": 12345,
                "tokensOut": 678,
                "totalTokens": 13023,
                "iterations": 4,
                "wallClockMs": 65000,
                "estimatedCost": "0.0421",
            },
            "report": (
                "# All checked\n<script>alert(1)</script>\n```\nfenced by the model\n```\n"
                f"token {GITHUB_TOKEN} and ANTHROPIC_API_KEY={API_KEY}\n"
            ),
            "findings": [
                {
                    "severity": "critical",
                    "resource": {"kind": "Pod", "namespace": "web", "name": "api-1"},
                    "message": INJECTION,
                },
                {"severity": "info", "message": "all nodes Ready"},
            ],
            "ledger": [
                _entry(
                    1,
                    requests=["get pods -n web"],
                    tier="read",
                    decision="allow",
                    rule="read",
                    outcome="executed",
                ),
                _entry(
                    2,
                    requests=["rollout restart deployment/api -n web"],
                    tier="service-mutation",
                    decision="allow",
                    action="k8s/restart",
                    outcome="executed",
                ),
                _entry(
                    3,
                    requests=["delete persistentvolumeclaims/data -n web"],
                    tier="data-mutation",
                    decision="deny",
                    rule="data-is-sacred",
                    reason="data mutations are never automated",
                    outcome="denied",
                ),
                _entry(
                    4,
                    requests=["scale deployment/api --replicas=0 -n web"],
                    tier="destructive-mutation",
                    decision="propose",
                    rule="above-autonomy",
                    reason="needs a human",
                    outcome="proposed",
                ),
                _entry(
                    5,
                    requests=["rollout restart deployment/db -n web"],
                    tier="service-mutation",
                    decision="allow",
                    outcome="failed",
                    result="Error from server (Forbidden)",
                ),
            ],
            "proposals": [
                {
                    "seq": 4,
                    "tool": "kubectl",
                    "requests": ["scale deployment/api --replicas=0 -n web"],
                    "tier": "destructive-mutation",
                    "rationale": "the api is idle at night.",
                    "state": "opened",
                    "pullRequest": "https://github.com/acme/fleet/pull/42",
                }
            ],
            "escalations": [
                {
                    "seq": 3,
                    "time": "2026-11-28T00:00:04Z",
                    "rule": "data-is-sacred",
                    "message": "the agent tried to delete PVC web/data",
                    "channel": "oncall",
                }
            ],
            "truncation": {"ledgerEntriesOmitted": 7},
        },
    }


def _tokens(markdown: str) -> list[Token]:
    parser = MarkdownIt("commonmark").enable("table")
    flat: list[Token] = []
    for token in parser.parse(markdown):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def _section(markdown: str, title: str) -> str:
    start = markdown.index(f"\n## {title}")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else None]


# --------------------------------------------------------------------------- content


def test_a_rich_run_renders_every_section_with_its_facts() -> None:
    text = render_summary(rich_run())

    assert text.startswith("# vigil: Escalated\n")
    for row in (
        "| Agent | vigil |",
        "| Trigger | scheduled |",
        "| Phase | Escalated (DataMutationDenied) |",
        "| Autonomy | automate-safe |",
        "| Model | anthropic/claude-sonnet |",
        "| Started | 2026-11-28 00:00:01 UTC |",
        "| Duration | 1 min 5 s |",
        "| Schedule lag | 3.0 s |",
        "| Tokens in / out | 12,345 / 678 |",
        "| Estimated cost | 0.0421 USD |",
        "| AgentRun | ops/vigil-x7k2p |",
    ):
        assert f"\n{row}\n" in text, row
    assert "fenced by the model" in _section(text, "Report")
    findings = _section(text, "Findings (2)")
    assert "**critical** Pod web/api-1: restarts" in findings
    assert "**info** all nodes Ready" in findings
    taken = _section(text, "Actions taken (1)")
    assert "#2 kubectl: rollout restart deployment/api -n web (service-mutation" in taken
    assert "Read-only calls (1)" in text and "#1 kubectl: get pods -n web (read)" in text
    assert "#5" in _section(text, "Actions that failed (1)")
    assert "Forbidden" in _section(text, "Actions that failed (1)")
    denied = _section(text, "Actions denied (1)")
    assert "#3 kubectl: delete persistentvolumeclaims/data -n web (data-mutation)" in denied
    assert "Rule data-is-sacred: data mutations are never automated" in denied
    proposed = _section(text, "Actions proposed (1)")
    assert "scale deployment/api --replicas=0 -n web (destructive-mutation; opened)" in proposed
    assert "Rationale: the api is idle at night." in proposed
    assert "Pull request: <https://github.com/acme/fleet/pull/42>" in proposed
    escalations = _section(text, "Escalations (1)")
    assert "#3 rule data-is-sacred: the agent tried to delete PVC web/data (notified: oncall)" in (
        escalations
    )
    assert "7 tool calls were left out" in _section(text, "Truncation notes")


def test_the_reader_sees_one_table_one_pull_request_link_and_no_model_html() -> None:
    tokens = _tokens(render_summary(rich_run()))

    rows = [t for t in tokens if t.type == "tr_open"]
    cells = [t for t in tokens if t.type in ("td_open", "th_open")]
    assert len(rows) == 12 and len(cells) == 24  # header + 11 facts, two columns each
    links = [t.attrs.get("href") for t in tokens if t.type == "link_open"]
    assert links == ["https://github.com/acme/fleet/pull/42"]
    assert not [t for t in tokens if t.type == "image"]
    html = [t.content.strip() for t in tokens if t.type in ("html_inline", "html_block")]
    assert all(h.startswith(("<details>", "</details>")) for h in html), html
    finding = next(t.content for t in tokens if t.type == "text" and "restarts" in t.content)
    assert finding.endswith(": " + INJECTION)
    report = next(t for t in tokens if t.type == "fence")
    assert "<script>alert(1)</script>" in report.content
    assert "```\nfenced by the model\n```" in report.content


def test_a_table_cell_cannot_be_broken_by_a_model_name_or_a_reason() -> None:
    run = rich_run()
    run["spec"]["modelUsed"] = "evil | injected |\n| Agent | someone-else"
    run["status"]["reason"] = "X|Y"
    tokens = _tokens(render_summary(run))

    assert len([t for t in tokens if t.type == "td_open"]) == 22
    assert "evil | injected | | Agent | someone-else" in [t.content for t in tokens]


# --------------------------------------------------------------------------- secrets


def test_secrets_in_the_record_never_reach_the_summary() -> None:
    run = rich_run()
    run["status"]["findings"][1]["message"] = f"leaked {API_KEY} in a ConfigMap"
    run["status"]["proposals"][0]["rationale"] = f"password={API_KEY}"
    text = render_summary(run, Redactor.with_values([API_KEY]))

    assert GITHUB_TOKEN not in text
    assert API_KEY not in text and API_KEY[:20] not in text
    assert text.count("REDACTED") >= 4
    assert "ANTHROPIC_API_KEY=[REDACTED]" in text


def test_a_token_shape_is_redacted_before_escaping_could_hide_it() -> None:
    run = rich_run()
    run["status"]["findings"][0]["message"] = f"found {GITHUB_TOKEN} in env"
    text = render_summary(run)

    assert "Q" * 36 not in text
    assert "found [REDACTED] in env" in text.replace("\\[", "[").replace("\\]", "]")


# --------------------------------------------------------------------------- stability


def test_the_same_run_always_renders_to_the_same_bytes() -> None:
    run = rich_run()
    first = render_summary(run)
    again = copy.deepcopy(run)
    again["metadata"]["annotations"] = {"infraagent.io/summary-commit": "abc123"}
    again["metadata"]["resourceVersion"] = "999"

    assert render_summary(run).encode() == first.encode()
    assert render_summary(again) == first
    assert first.endswith("\n") and not first.endswith("\n\n")


def test_the_path_is_agent_and_utc_start_date() -> None:
    assert summary_path(parse_run(rich_run())) == "runs/vigil/2026-11-28/vigil-x7k2p.md"
    interrupted = rich_run()
    del interrupted["status"]["startTime"]
    assert summary_path(parse_run(interrupted)) == "runs/vigil/2026-11-27/vigil-x7k2p.md"
    offset = rich_run()
    offset["status"]["startTime"] = "2026-11-28T01:30:00+02:00"
    assert summary_path(parse_run(offset)) == "runs/vigil/2026-11-27/vigil-x7k2p.md"


# --------------------------------------------------------------------------- sparse runs


def test_a_bare_interrupted_run_says_what_is_known_and_nothing_more() -> None:
    run = {
        "apiVersion": API,
        "kind": "AgentRun",
        "metadata": {"name": "hello-a1b2c", "namespace": "default"},
        "spec": {"agentRef": "hello", "environmentRef": "dev", "trigger": "manual"},
        "status": {"phase": "Interrupted", "reason": "Interrupted"},
    }
    text = render_summary(run)

    assert text.startswith("# hello: Interrupted\n")
    assert "| Duration | — |" in text and "| Tokens in / out | — |" in text
    assert "No report." in text
    assert "## Findings" not in text and "## Actions" not in text
    assert "## Truncation" not in text


def test_a_report_cut_by_the_size_policy_is_noted() -> None:
    run = rich_run()
    run["status"]["report"] = truncate_text("x" * (MAX_REPORT_CHARS + 10), MAX_REPORT_CHARS)
    assert TRUNCATION_MARKER in run["status"]["report"]

    notes = _section(render_summary(run), "Truncation notes")
    assert "The report was shortened to 16,384 characters." in notes


def test_something_that_is_not_an_agentrun_is_refused() -> None:
    run = rich_run()
    run["spec"]["trigger"] = "cron"
    with pytest.raises(ValidationError):
        render_summary(run)
