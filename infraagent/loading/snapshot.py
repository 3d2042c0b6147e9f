"""Load one checked-out fleet snapshot for the reconciler, file by file.

``FleetSnapshotLoader`` implements ``ports.SnapshotLoader``: it runs the same loaders and
checks as ``infraagent validate`` (``fleet.load`` then ``crossref.check``) over the
source's paths, and splits the result per file: a definition file with any error yields
only its problems (so the reconciler keeps what it applied from it last time), a clean one
yields its definitions as plain JSON with their line. Skill folders come back with the
texts of ``SKILL.md`` and ``actions.yaml``, which the reconciler publishes as ConfigMaps.

Warnings do not fail a file. A path that does not exist is empty, not an error. This
module reads files and nothing else: it applies nothing and decides nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infraagent.loading import Source, validate
from infraagent.loading.documents import Definition
from infraagent.loading.fleet import SHEET_FILES, SKILL_FILE, Skill
from infraagent.models import Diagnostic
from infraagent.ports import (
    LoadedSnapshot,
    SourceDefinition,
    SourceFile,
    SourceProblem,
    SourceSkill,
)

_KEPT_METADATA = ("name", "namespace", "labels", "annotations")


class FleetSnapshotLoader:
    """The reconciler's ``SnapshotLoader`` over the foundation's validators."""

    def load(self, root: Path, paths: tuple[str, ...]) -> LoadedSnapshot:
        """Load and validate ``paths`` below ``root``; per-file definitions or problems."""
        sources = [
            Source(root / label, "" if label == "." else label)
            for label in sorted({p.strip("/") or "." for p in paths})
            if (root / label).exists()
        ]
        fleet, diagnostics = validate(sources)
        problems: dict[str, list[SourceProblem]] = defaultdict(list)
        for diag in diagnostics:
            if diag.is_error:
                problems[diag.file].append(_problem(diag))
        skills = tuple(_skill(root, skill, problems) for skill in fleet.skills.values())
        skill_files = {f for s in skills for f in problems if f.startswith(f"{s.folder}/")}
        by_file: dict[str, list[Definition]] = defaultdict(list)
        for definition in fleet.definitions:
            by_file[definition.file].append(definition)
        names = sorted((set(by_file) | set(problems)) - skill_files)
        files = tuple(_file(name, by_file.get(name, []), problems.get(name, [])) for name in names)
        return LoadedSnapshot(files=files, skills=skills)


def _problem(diag: Diagnostic) -> SourceProblem:
    where = f" ({diag.field})" if diag.field else ""
    return SourceProblem(file=diag.file, line=diag.line, message=f"{diag.message}{where}")


def _file(name: str, definitions: list[Definition], problems: list[SourceProblem]) -> SourceFile:
    if problems or any(d.model is None for d in definitions):
        return SourceFile(name, (), tuple(problems) or (SourceProblem(name, 1, "invalid"),))
    return SourceFile(name, tuple(_definition(d) for d in definitions), ())


def _definition(definition: Definition) -> SourceDefinition:
    model = definition.model
    assert model is not None  # only clean files reach here
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    metadata = {k: v for k, v in dumped.get("metadata", {}).items() if k in _KEPT_METADATA and v}
    body = {
        "apiVersion": dumped["apiVersion"],
        "kind": dumped["kind"],
        "metadata": metadata,
        "spec": dumped.get("spec", {}),
    }
    return SourceDefinition(
        api_version=str(dumped["apiVersion"]),
        kind=definition.kind,
        name=str(metadata.get("name", "")),
        namespace=metadata.get("namespace"),
        body=body,
        file=definition.file,
        line=definition.doc.start[0],
    )


def _skill(root: Path, skill: Skill, problems: dict[str, list[SourceProblem]]) -> SourceSkill:
    folder = skill.file.removesuffix(f"/{SKILL_FILE}")
    directory = root / folder
    skill_md = _read(directory / SKILL_FILE) or ""
    sheet = next((directory / n for n in SHEET_FILES if (directory / n).is_file()), None)
    found = _flatten(v for k, v in problems.items() if k.startswith(f"{folder}/"))
    if not skill.ok and not found:
        found = (SourceProblem(skill.file, 1, "the skill did not load"),)
    return SourceSkill(
        name=skill.name,
        folder=folder,
        skill_md=skill_md,
        actions_yaml=_read(sheet) if sheet is not None else None,
        problems=found,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _flatten(groups: Iterable[list[SourceProblem]]) -> tuple[SourceProblem, ...]:
    return tuple(problem for group in groups for problem in group)
