"""Formatting validation results: text, JSON, GitHub workflow commands and a Markdown table.

Every function here is pure: it takes an ``Outcome`` and returns text. Printing, and
appending the Markdown to ``$GITHUB_STEP_SUMMARY``, is the caller's job.

GitHub escaping follows the runner's rules for workflow commands: in the message ``%``,
``\\r`` and ``\\n`` are percent-encoded; in property values (file, title) also ``:`` and
``,``. GitHub shows a limited number of annotations per step, so at most
``GITHUB_ANNOTATION_LIMIT`` commands are printed (errors first) and the rest are counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from infraagent.models import Diagnostic

GITHUB_ANNOTATION_LIMIT: Final = 10
_MARKDOWN_SPECIAL: Final = frozenset("\\`*_[]<>|#~!")


@dataclass(frozen=True)
class Outcome:
    """The diagnostics of one validation run, how many files it read, and its strictness."""

    diagnostics: Sequence[Diagnostic]
    files: int
    strict: bool = False

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> int:
        return len(self.diagnostics) - self.errors

    @property
    def valid(self) -> bool:
        """No errors, and with ``strict`` no warnings either."""
        return self.errors == 0 and not (self.strict and self.warnings)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def summary_line(outcome: Outcome) -> str:
    """``2 errors, 1 warning in 34 files``, or ``no problems in 34 files``."""
    files = _count(outcome.files, "file")
    if not outcome.diagnostics:
        return f"no problems in {files}"
    counts = f"{_count(outcome.errors, 'error')}, {_count(outcome.warnings, 'warning')}"
    return f"{counts} in {files}" + (" (--strict: warnings fail)" if outcome.strict else "")


def _text_line(d: Diagnostic) -> str:
    field = f" [{d.field}]" if d.field else ""
    return f"{d.file}:{d.line}:{d.column}: {d.severity.value}: {d.message}{field} ({d.code})"


def format_text(outcome: Outcome) -> str:
    """One ``file:line:col: severity: message [field] (code)`` line each, then a summary."""
    return "".join(f"{_text_line(d)}\n" for d in outcome.diagnostics) + summary_line(outcome) + "\n"


def format_json(outcome: Outcome) -> str:
    """One JSON object: valid, files, errors, warnings and every diagnostic."""
    document = {
        "valid": outcome.valid,
        "files": outcome.files,
        "errors": outcome.errors,
        "warnings": outcome.warnings,
        "diagnostics": [d.model_dump(mode="json") for d in outcome.diagnostics],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(d: Diagnostic) -> str:
    level = "error" if d.is_error else "warning"
    title = f"{d.field} ({d.code})" if d.field else d.code
    properties = ",".join(
        (
            f"file={escape_property(d.file)}",
            f"line={d.line}",
            f"col={d.column}",
            f"title={escape_property(title)}",
        )
    )
    return f"::{level} {properties}::{escape_data(d.message)}"


def format_github(outcome: Outcome, limit: int = GITHUB_ANNOTATION_LIMIT) -> str:
    """Workflow commands for the first ``limit`` problems (errors first), then the rest as text."""
    ordered = sorted(outcome.diagnostics, key=lambda d: not d.is_error)
    lines = [_command(d) for d in ordered[:limit]]
    rest = ordered[limit:]
    if rest:
        lines.append(
            f"{_count(len(rest), 'more problem')} not annotated "
            f"(GitHub shows at most {limit} annotations per step):"
        )
        lines.extend(_text_line(d) for d in rest)
    lines.append(summary_line(outcome))
    return "\n".join(lines) + "\n"


def escape_markdown(text: str) -> str:
    """Make ``text`` safe in a Markdown table cell: no HTML, emphasis, links or '|'."""
    text = text.replace("&", "&amp;").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return "".join(f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in text)


def markdown_summary(outcome: Outcome) -> str:
    """A Markdown section for the GitHub job summary: the summary line and every problem.

    It starts with a blank line, so it renders as its own section whatever came before.
    """
    lines = ["", "### infraagent validate", "", escape_markdown(summary_line(outcome)), ""]
    if outcome.diagnostics:
        lines += [
            "| Severity | File | Line | Column | Field | Problem | Code |",
            "| --- | --- | ---: | ---: | --- | --- | --- |",
        ]
        lines += [
            "| "
            + " | ".join(
                (
                    d.severity.value,
                    escape_markdown(d.file),
                    str(d.line),
                    str(d.column),
                    escape_markdown(d.field),
                    escape_markdown(d.message),
                    escape_markdown(d.code),
                )
            )
            + " |"
            for d in outcome.diagnostics
        ]
        lines.append("")
    return "\n".join(lines) + "\n"
