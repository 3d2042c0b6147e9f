"""Helpers the sub-commands share: the wall clock, and loading one agent bundle and reporting
its problems."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from infraagent.loading.bundle import AgentBundle, load_bundle


def load_agent_or_report(
    agent: Path, environment: Path | None, skills: Path | None
) -> AgentBundle | None:
    """The agent's bundle, or None after printing every problem to stderr (a usage error)."""
    bundle = load_bundle(agent, environment, skills)
    for problem in bundle.diagnostics:
        print(f"{problem.file}:{problem.line}:{problem.column}: {problem.message}", file=sys.stderr)
    return bundle if bundle.ok and bundle.agent is not None else None


class SystemClock:
    """The wall clock, in UTC: the ``Clock`` the command line gives everything it wires."""

    def now(self) -> datetime:
        return datetime.now(UTC)
