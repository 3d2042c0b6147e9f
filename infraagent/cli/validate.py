"""``infraagent validate [PATH ...]``: check a fleet repository or single definition files.

Every problem is reported in one run, each at ``file:line:column`` with its field path and
a plain sentence, as text, JSON or GitHub workflow commands. Exit status: 0 valid, 1
invalid (with ``--strict``, warnings count), 2 usage (a path that does not exist, or one
that holds nothing to validate).

This module wires settings, the loader and the formatters; the checks live in
``infraagent.loading`` and the formats in ``infraagent.cli.report``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from infraagent.cli.report import (
    Outcome,
    format_github,
    format_json,
    format_text,
    markdown_summary,
)
from infraagent.errors import UsageError
from infraagent.loading import Source, validate
from infraagent.settings import Settings

FORMATS = ("text", "json", "github")


def register(commands: Any) -> None:
    """Add the ``validate`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "validate",
        help="validate a fleet repository or single definition files",
        description=(
            "Validate fleet definitions: every YAML document against its model, and "
            "references between agents, environments, skills and model tiers. A directory "
            "holding agents/, environments/ or skills/ is a fleet root; any other directory "
            "is searched for YAML files."
        ),
    )
    parser.add_argument(
        "paths", nargs="*", default=["."], metavar="PATH", help="fleet roots or files (default .)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (default text)"
    )
    parser.add_argument("--strict", action="store_true", help="warnings also fail validation")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``validate`` command, with settings from the process environment."""
    settings = Settings.from_environ(os.environ)
    return execute(args.paths, args.format, strict=args.strict, settings=settings)


def execute(
    paths: Sequence[str],
    output_format: str,
    *,
    strict: bool,
    settings: Settings,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate ``paths``, print the result in ``output_format``; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        fleet, diagnostics = validate([Source.from_argument(p) for p in paths])
    except UsageError as error:
        print(f"infraagent validate: error: {error}", file=err)
        return 2
    if fleet.files == 0 and not diagnostics:
        shown = " ".join(paths)
        print(f"infraagent validate: error: no definitions or skills found in {shown}", file=err)
        return 2
    outcome = Outcome(diagnostics, fleet.files, strict)
    formatter = {"text": format_text, "json": format_json, "github": format_github}
    out.write(formatter[output_format](outcome))
    if output_format == "github" and settings.github_step_summary is not None:
        _append_summary(settings.github_step_summary, markdown_summary(outcome), err)
    return 0 if outcome.valid else 1


def _append_summary(path: Path, text: str, err: TextIO) -> None:
    try:
        with path.open("a", encoding="utf-8") as summary:
            summary.write(text)
    except OSError as error:
        print(f"infraagent validate: warning: cannot write the job summary: {error}", file=err)
