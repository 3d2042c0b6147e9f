"""Load one agent with its environment and its skills (instructions and Action Sheets).

Used by ``infraagent guardrails check`` (and later by ``infraagent run``): unlike a fleet
load it takes explicit files, and resolves every skill of the agent by name in one
directory, whatever the skill's source. Problems come back as diagnostics, never as
exceptions, so the caller decides how to report them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from infraagent.loading.documents import check_action_sheet, check_skill_md
from infraagent.loading.fleet import Source, load
from infraagent.models import ActionSheet, AgentEnvironment, Diagnostic, InfraAgent
from infraagent.models.diagnostics import DiagnosticSeverity


@dataclass
class AgentBundle:
    """An agent and what it needs to be judged; ``agent`` is None when it did not load."""

    agent: InfraAgent | None = None
    environment: AgentEnvironment | None = None
    sheets: dict[str, ActionSheet] = field(default_factory=dict)
    instructions: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.agent is not None and not any(d.is_error for d in self.diagnostics)


def load_bundle(agent: Path, environment: Path | None, skills: Path | None) -> AgentBundle:
    """Load the agent file, the optional environment file and the agent's Action Sheets."""
    bundle = AgentBundle()
    bundle.agent = _single(agent, InfraAgent, bundle)
    if environment is not None:
        bundle.environment = _single(environment, AgentEnvironment, bundle)
    if bundle.agent is not None and skills is not None:
        for ref in bundle.agent.spec.skills:
            _load_sheet(skills / ref.name, ref.name, bundle)
    return bundle


M = TypeVar("M", InfraAgent, AgentEnvironment)


def _single(path: Path, model: type[M], bundle: AgentBundle) -> M | None:
    fleet, diagnostics = load([Source.from_argument(str(path))])
    bundle.diagnostics.extend(diagnostics)
    found = [d.model for d in fleet.definitions if isinstance(d.model, model)]
    if len(found) != 1 and not diagnostics:
        bundle.diagnostics.append(
            _problem(str(path), f"expected exactly one {model.__name__}, found {len(found)}")
        )
    return found[0] if len(found) == 1 else None


def _load_sheet(folder: Path, name: str, bundle: AgentBundle) -> None:
    sheet_path = folder / "actions.yaml"
    if not folder.is_dir():
        bundle.diagnostics.append(_problem(str(folder), f"skill {name!r} has no folder here"))
        return
    skill_md = folder / "SKILL.md"
    if skill_md.is_file():
        text, diagnostics = check_skill_md(
            skill_md.read_text(encoding="utf-8"), str(skill_md), name
        )
        bundle.diagnostics.extend(diagnostics)
        bundle.instructions[name] = text.body
    if not sheet_path.is_file():
        return
    sheet, diagnostics = check_action_sheet(sheet_path.read_text(encoding="utf-8"), str(sheet_path))
    bundle.diagnostics.extend(diagnostics)
    if sheet is not None:
        bundle.sheets[name] = sheet


def _problem(file: str, message: str) -> Diagnostic:
    error = DiagnosticSeverity.ERROR
    return Diagnostic(severity=error, file=file, line=1, column=1, message=message, code="usage")
