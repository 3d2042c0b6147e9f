"""``infraagent guardrails check``: judge tool calls from JSON Lines, without a cluster.

Contract (other tools are built on it; keep it stable):

    infraagent guardrails check --agent FILE [--environment FILE] [--skills DIR] [--input FILE]

One JSON object per input line, in order: ``{"decision", "tier", "rule", "reason",
"action"}``. A malformed line is a ``deny`` with rule ``invalid-input``. Exit 0 when the
input was processed, 2 on usage errors (unreadable or invalid agent, environment or skills).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from infraagent.cli.common import load_agent_or_report
from infraagent.guardrails.policy import Policy, build_policy
from infraagent.guardrails.verdict import CooldownState, Verdict, deny
from infraagent.tools.judge import judge


def register(commands: Any) -> None:
    """Add the ``guardrails`` command with its ``check`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "guardrails", help="judge tool calls with the guardrail engine"
    )
    sub = parser.add_subparsers(dest="guardrails_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", help="judge tool calls read as JSON Lines")
    check.add_argument("--agent", type=Path, required=True, help="an InfraAgent YAML file")
    check.add_argument("--environment", type=Path, help="an AgentEnvironment YAML file")
    check.add_argument("--skills", type=Path, help="skills directory: DIR/<name>/actions.yaml")
    check.add_argument("--input", type=Path, help="JSON Lines of tool calls (default stdin)")
    check.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the agent, then judge every input line."""
    bundle = load_agent_or_report(args.agent, args.environment, args.skills)
    if bundle is None or bundle.agent is None:
        return 2
    policy = build_policy(bundle.agent, bundle.environment, bundle.sheets)
    try:
        stream = args.input.open(encoding="utf-8") if args.input else sys.stdin
    except OSError as error:
        print(f"infraagent guardrails check: cannot read {args.input}: {error}", file=sys.stderr)
        return 2
    with stream:
        _write(judge_lines(stream, policy, datetime.now(UTC)), sys.stdout)
    return 0


def judge_lines(lines: Iterable[str], policy: Policy, now: datetime) -> Iterator[Verdict]:
    """One verdict per line; every call is judged on its own (no cooldown carries over)."""
    state = CooldownState()
    for line in lines:
        yield _judge_line(line, policy, state, now)


def _judge_line(line: str, policy: Policy, state: CooldownState, now: datetime) -> Verdict:
    try:
        call = json.loads(line)
    except ValueError as error:
        return deny("invalid-input", f"the line is not JSON: {error}")
    if not isinstance(call, dict) or not isinstance(call.get("tool"), str):
        return deny("invalid-input", 'each line needs {"tool": "<name>", "input": {...}}')
    tool_input = call.get("input", {})
    if not isinstance(tool_input, dict):
        return deny("invalid-input", "'input' must be a JSON object")
    return judge(call["tool"], tool_input, policy, state, now)


def _write(verdicts: Iterable[Verdict], out: TextIO) -> None:
    for verdict in verdicts:
        out.write(json.dumps(verdict.to_json(), ensure_ascii=False) + "\n")
        out.flush()
