"""One finished AgentRun as a Markdown summary for the runs branch (issue 7, item 3).

``render_summary`` turns the plain JSON of a finished run (validated with the ``AgentRun``
model) into one Markdown document: a title with the agent and outcome, a facts table, the
report, the findings, the actions taken / proposed / denied, the escalations and what the
size policy left out. ``summary_path`` says where it goes:
``runs/<agent>/<YYYY-MM-DD>/<run-name>.md``, dated by the run's start in UTC.

Safety, because the file is published to Git where people read it rendered:

- Every piece of recorded text goes through a ``Redactor`` before it is escaped (escaping
  would hide a token's shape from the patterns), and the finished document once more.
- Text a model or a cluster wrote is escaped: inline text has Markdown punctuation
  backslash-escaped, ``& < >`` turned into entities and line breaks folded, so it cannot
  inject HTML, links or images, or break a table row or list item; the report is shown
  verbatim in a code fence longer than any run of backticks inside it.

The output depends only on the run's spec, status, name and namespace, so the same run
always renders to the same bytes (a retry after a failed push commits nothing new).
Deliberately not here: listing runs, Git and the cluster (``operator.summaries`` does that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from infraagent.models.agentrun import (
    MAX_REPORT_CHARS,
    TRUNCATION_MARKER,
    AgentRun,
    AgentRunStatus,
    Decision,
    LedgerEntry,
    Outcome,
    Tier,
)
from infraagent.redaction import Redactor

_NONE: Final = "—"
_MARKDOWN_PUNCTUATION: Final = re.compile(r"([\\`*_{}\[\]()#+!|~^$])")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_BACKTICKS: Final = re.compile(r"`+")
_SAFE_URL: Final = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+")
_TRUNCATION_NOTES: Final = (
    ("ledgerEntriesOmitted", "tool calls"),
    ("findingsOmitted", "findings"),
    ("proposalsOmitted", "proposals"),
    ("escalationsOmitted", "escalations"),
)


def parse_run(run: Mapping[str, Any]) -> AgentRun:
    """The run as the ``AgentRun`` model (``pydantic.ValidationError`` when it is not one)."""
    return AgentRun.model_validate(dict(run))


def summary_path(run: AgentRun) -> str:
    """``runs/<agent>/<YYYY-MM-DD>/<run-name>.md``, dated by the start (else creation), UTC."""
    return f"runs/{run.spec.agentRef}/{_started(run).strftime('%Y-%m-%d')}/{_name(run)}.md"


def render_summary(run: Mapping[str, Any], redactor: Redactor | None = None) -> str:
    """The Markdown summary of a finished run; the same run always gives the same text."""
    model = parse_run(run)
    red = redactor or Redactor()
    status = model.status or AgentRunStatus()
    sections = [
        _title(model, status),
        _facts(model, status, red),
        _report(status.report, red),
        _findings(status, red),
        *_actions(status, red),
        _proposals(status, red),
        _escalations(status, red),
        _truncation(status),
    ]
    text = "\n\n".join(s for s in sections if s) + "\n"
    return red.redact(text)


# --------------------------------------------------------------------------- text


def inline(text: str, redactor: Redactor) -> str:
    """``text`` redacted and made safe inside a table cell or a list item."""
    text = _CONTROL.sub(" ", redactor.redact(text))
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def fenced(text: str, redactor: Redactor) -> str:
    """``text`` redacted, verbatim in a code fence no line of it can close."""
    body = _CONTROL.sub(" ", redactor.redact(text)).rstrip("\n")
    longest = max((len(m) for m in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def _name(run: AgentRun) -> str:
    return run.metadata.name or ""


def _started(run: AgentRun) -> datetime:
    status = run.status or AgentRunStatus()
    when = status.startTime or run.metadata.creationTimestamp or datetime.min
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _time(value: datetime | None) -> str:
    if value is None:
        return _NONE
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _millis(value: int | None) -> str:
    if value is None:
        return _NONE
    if value < 1000:
        return f"{value} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


# --------------------------------------------------------------------------- sections


def _outcome(status: AgentRunStatus, red: Redactor) -> str:
    phase = status.phase.value if status.phase else "Unknown"
    return f"{phase} ({inline(status.reason, red)})" if status.reason else phase


def _title(run: AgentRun, status: AgentRunStatus) -> str:
    phase = status.phase.value if status.phase else "Unknown"
    return f"# {run.spec.agentRef}: {phase}"


def _duration(status: AgentRunStatus) -> int | None:
    if status.usage is not None and status.usage.wallClockMs:
        return status.usage.wallClockMs
    if status.startTime and status.completionTime:
        return max(0, int((status.completionTime - status.startTime).total_seconds() * 1000))
    return None


def _facts(run: AgentRun, status: AgentRunStatus, red: Redactor) -> str:
    spec, usage = run.spec, status.usage
    rows = [
        ("Agent", spec.agentRef),
        ("Trigger", spec.trigger.value),
        ("Phase", _outcome(status, red)),
        ("Autonomy", spec.autonomy.value if spec.autonomy else _NONE),
        ("Model", inline(spec.modelUsed, red) if spec.modelUsed else _NONE),
        ("Started", _time(status.startTime)),
        ("Duration", _millis(_duration(status))),
        ("Schedule lag", _millis(status.scheduleLagMs)),
        ("Tokens in / out", f"{usage.tokensIn:,} / {usage.tokensOut:,}" if usage else _NONE),
        ("Estimated cost", f"{usage.estimatedCost} USD" if usage else _NONE),
        ("AgentRun", f"{run.metadata.namespace or ''}/{_name(run)}"),
    ]
    lines = ["| | |", "| --- | --- |", *(f"| {key} | {value} |" for key, value in rows)]
    return "\n".join(lines)


def _report(report: str, red: Redactor) -> str:
    return "## Report\n\n" + (fenced(report, red) if report.strip() else "No report.")


def _section(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"## {title} ({len(items)})\n\n" + "\n".join(f"- {item}" for item in items)


def _findings(status: AgentRunStatus, red: Redactor) -> str:
    items = []
    for finding in status.findings:
        where = ""
        if finding.resource is not None:
            ref = finding.resource
            place = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
            where = f" {inline(ref.kind, red)} {inline(place, red)}:"
        items.append(f"**{finding.severity.value}**{where} {inline(finding.message, red)}")
    return _section("Findings", items)


def _call(entry: LedgerEntry, red: Redactor) -> str:
    what = "; ".join(entry.requests) or entry.tool
    tier = entry.tier.value if entry.tier else "unclassified"
    action = f", action {inline(entry.action, red)}" if entry.action else ""
    return f"#{entry.seq} {inline(entry.tool, red)}: {inline(what, red)} ({tier}{action})"


def _actions(status: AgentRunStatus, red: Redactor) -> Iterable[str]:
    ledger = status.ledger
    allowed = [e for e in ledger if e.decision is Decision.ALLOW]
    mutations = [e for e in allowed if e.outcome is Outcome.EXECUTED and e.tier is not Tier.READ]
    reads = [e for e in allowed if e.outcome is Outcome.EXECUTED and e.tier is Tier.READ]
    failed = [e for e in allowed if e.outcome is Outcome.FAILED]
    denied = [e for e in ledger if e.decision is Decision.DENY]
    yield _section("Actions taken", [_call(e, red) for e in mutations])
    if reads:
        listed = "\n".join(f"- {_call(e, red)}" for e in reads)
        yield (
            f"<details><summary>Read-only calls ({len(reads)})</summary>\n\n{listed}\n\n</details>"
        )
    yield _section(
        "Actions that failed",
        [f"{_call(e, red)}: {inline(e.result, red) or 'no detail'}" for e in failed],
    )
    yield _section(
        "Actions denied",
        [f"{_call(e, red)}. Rule {inline(e.rule, red)}: {inline(e.reason, red)}" for e in denied],
    )


def _pull_request(url: str | None, red: Redactor) -> str:
    if not url:
        return ""
    clean = red.redact(url)
    if _SAFE_URL.fullmatch(clean):
        return f" Pull request: <{clean}>"
    return f" Pull request: {inline(clean, red)}"


def _proposals(status: AgentRunStatus, red: Redactor) -> str:
    items = []
    for p in status.proposals:
        what = inline("; ".join(p.requests) or p.tool, red)
        action = f", action {inline(p.action, red)}" if p.action else ""
        rationale = p.rationale.strip().rstrip(".")
        why = f" Rationale: {inline(rationale, red)}." if rationale else ""
        items.append(
            f"#{p.seq} {inline(p.tool, red)}: {what} ({p.tier.value}{action}; {p.state.value})."
            f"{why}{_pull_request(p.pullRequest, red)}"
        )
    return _section("Actions proposed", items)


def _escalations(status: AgentRunStatus, red: Redactor) -> str:
    items = []
    for e in status.escalations:
        seq = f"#{e.seq} " if e.seq else ""
        channel = f" (notified: {inline(e.channel, red)})" if e.channel else ""
        items.append(f"{seq}rule {inline(e.rule, red)}: {inline(e.message, red)}{channel}")
    return _section("Escalations", items)


def _truncation(status: AgentRunStatus) -> str:
    counts = status.truncation
    notes = [
        f"{getattr(counts, field)} {what} were left out of the record by its size policy."
        for field, what in _TRUNCATION_NOTES
        if counts is not None and getattr(counts, field)
    ]
    if TRUNCATION_MARKER in status.report:
        notes.append(f"The report was shortened to {MAX_REPORT_CHARS:,} characters.")
    if not notes:
        return ""
    return "## Truncation notes\n\n" + "\n".join(f"- {note}" for note in notes)
