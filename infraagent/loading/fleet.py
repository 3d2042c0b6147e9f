"""Discover and load a fleet: definition files, skill folders, or single files.

A fleet root holds ``agents/``, ``environments/`` and ``skills/`` (each optional). Every
``*.yaml`` / ``*.yml`` below ``agents/`` and ``environments/`` is a definition file (possibly
several documents); every folder ``skills/<name>/`` is a skill with a ``SKILL.md`` and an
optional ``actions.yaml``. Other files in ``skills/`` (such as a README) are ignored.

A directory without those folders is searched for YAML files, each a definition, except that
a folder holding a ``SKILL.md`` is loaded as a skill. A single file is validated alone; a
``SKILL.md`` or ``actions.yaml`` given alone is validated as that kind.

Files are read as UTF-8 (a byte-order mark is allowed). Each source has a label that
prefixes the file names in diagnostics ('' for none), so a root given as ``fleet`` reports
``fleet/agents/a.yaml`` and ``.`` reports ``agents/a.yaml``; names always use '/'.

This module does the file I/O and nothing else: it compares nothing across files
(``crossref`` does) and formats nothing (the command line does).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Final

from infraagent.errors import UsageError
from infraagent.loading.documents import (
    Definition,
    check_action_sheet,
    check_definition,
    check_skill_md,
    diagnostic,
    problem_diagnostic,
)
from infraagent.loading.yamlpos import parse_yaml
from infraagent.models import ActionSheet, Diagnostic, SkillManifest

FLEET_DIRS: Final = ("agents", "environments", "skills")
DEFINITION_DIRS: Final = ("agents", "environments")
YAML_SUFFIXES: Final = (".yaml", ".yml")
SKILL_FILE: Final = "SKILL.md"
SHEET_FILES: Final = ("actions.yaml", "actions.yml")


@dataclass(frozen=True)
class Skill:
    """A skill folder as loaded: its manifest, instructions and Action Sheet.

    ``ok`` is True when every file of the skill is valid. ``action_ids`` is the set of
    declared action ids, empty without an Action Sheet and None when the sheet is invalid
    (so which actions it declares is unknown).
    """

    name: str
    file: str
    manifest: SkillManifest | None
    body: str
    sheet: ActionSheet | None
    ok: bool
    action_ids: frozenset[str] | None


@dataclass
class Fleet:
    """Everything one invocation loaded.

    ``skills_scanned`` is True when a fleet root or at least one skill folder was loaded:
    only then can a reference to a missing repository skill be reported.
    """

    definitions: list[Definition] = field(default_factory=list)
    skills: dict[str, Skill] = field(default_factory=dict)
    files: int = 0
    skills_scanned: bool = False


@dataclass(frozen=True)
class Source:
    """A path to load and the label its file names are reported under."""

    path: FsPath
    label: str

    @classmethod
    def from_argument(cls, argument: str) -> Source:
        """A source for a command-line argument, labelled as the user wrote it."""
        label = FsPath(argument).as_posix()
        return cls(FsPath(argument), "" if label == "." else label)

    def name(self, relative: FsPath | None = None) -> str:
        """The reported name of ``relative`` (a path below this source), or of the source.

        The source itself, when labelled '', is reported as ''.
        """
        if relative is None or str(relative) == ".":
            return self.label
        rel = relative.as_posix()
        return f"{self.label}/{rel}" if self.label else rel


class _Loader:
    def __init__(self) -> None:
        self.fleet = Fleet()
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[str] = set()

    def read(self, path: FsPath, name: str) -> str | None:
        """The text of ``path``, counting it; None (with a diagnostic) if unreadable."""
        self.fleet.files += 1
        try:
            data = path.read_bytes()
        except OSError as error:
            message = f"cannot be read: {error.strerror or error}"
            self.diagnostics.append(diagnostic(name, (1, 1), message, "io"))
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            self.diagnostics.append(_encoding_diagnostic(name, data, error))
            return None

    def first_time(self, path: FsPath) -> bool:
        """False when ``path`` was already loaded (overlapping arguments)."""
        key = os.path.realpath(path)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def definition_file(self, path: FsPath, name: str) -> None:
        if not self.first_time(path):
            return
        text = self.read(path, name)
        if text is None:
            return
        documents, syntax = parse_yaml(text)
        for doc in documents:
            definition, diagnostics = check_definition(doc, name)
            self.diagnostics.extend(diagnostics)
            if definition is not None:
                self.fleet.definitions.append(definition)
        if syntax is not None:
            self.diagnostics.append(problem_diagnostic(name, syntax))

    def skill_folder(self, folder: FsPath, name: str, md_name: str | None = None) -> None:
        """Load a skill folder; ``name`` is its reported path ('' for the current folder)."""
        self.fleet.skills_scanned = True
        skill_name = os.path.basename(os.path.abspath(folder))
        skill_md = folder / SKILL_FILE
        if not skill_md.is_file():
            message = f"skill folder {skill_name!r} has no {SKILL_FILE}"
            self.diagnostics.append(diagnostic(name or ".", (1, 1), message, "skill-folder"))
            return
        if not self.first_time(skill_md):
            return
        before = len(self.diagnostics)
        md_name = md_name or (f"{name}/{SKILL_FILE}" if name else SKILL_FILE)
        text = self.read(skill_md, md_name)
        skill_text, problems = check_skill_md(text or "", md_name, skill_name)
        self.diagnostics.extend(problems if text is not None else [])
        sheet, ids = self._sheet(folder, name)
        ok = text is not None and len(self.diagnostics) == before
        skill = Skill(skill_name, md_name, skill_text.manifest, skill_text.body, sheet, ok, ids)
        self._add_skill(skill)

    def _sheet(self, folder: FsPath, name: str) -> tuple[ActionSheet | None, frozenset[str] | None]:
        path = next((folder / n for n in SHEET_FILES if (folder / n).is_file()), None)
        if path is None:
            return None, frozenset()
        sheet = self.sheet_file(path, f"{name}/{path.name}" if name else path.name)
        return sheet, None if sheet is None else frozenset(a.id for a in sheet.actions)

    def sheet_file(self, path: FsPath, name: str) -> ActionSheet | None:
        text = self.read(path, name)
        if text is None:
            return None
        sheet, diagnostics = check_action_sheet(text, name)
        self.diagnostics.extend(diagnostics)
        return sheet

    def _add_skill(self, skill: Skill) -> None:
        first = self.fleet.skills.get(skill.name)
        if first is None:
            self.fleet.skills[skill.name] = skill
            return
        message = f"skill {skill.name!r} is defined twice (first in {first.file})"
        self.diagnostics.append(diagnostic(skill.file, (1, 1), message, "duplicate-name"))


def _encoding_diagnostic(name: str, data: bytes, error: UnicodeDecodeError) -> Diagnostic:
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    byte = data[error.start : error.start + 1].hex()
    message = f"the file is not UTF-8 text (byte 0x{byte} at line {line}, column {column})"
    return diagnostic(name, (line, column), message, "encoding")


def _walk(directory: FsPath) -> Iterator[FsPath]:
    """Every file below ``directory``, sorted, skipping hidden files and folders."""
    for current, folders, files in os.walk(directory):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for file in sorted(files):
            if not file.startswith("."):
                yield FsPath(current) / file


def _load_fleet_root(loader: _Loader, source: Source) -> None:
    for sub in DEFINITION_DIRS:
        for path in _walk(source.path / sub):
            if path.suffix in YAML_SUFFIXES:
                loader.definition_file(path, source.name(path.relative_to(source.path)))
    loader.fleet.skills_scanned = True
    skills = source.path / "skills"
    if skills.is_dir():
        for folder in sorted(
            p for p in skills.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            loader.skill_folder(folder, source.name(folder.relative_to(source.path)))


def _load_directory(loader: _Loader, source: Source) -> None:
    """Load every YAML file below a directory that is not a fleet root.

    A folder that holds a SKILL.md is loaded as a skill, and nothing below it is searched.
    """
    for current, folders, files in os.walk(source.path):
        here = FsPath(current)
        if SKILL_FILE in files:
            folders[:] = []
            loader.skill_folder(here, source.name(here.relative_to(source.path)))
            continue
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for file in sorted(files):
            if file.endswith(YAML_SUFFIXES) and not file.startswith("."):
                loader.definition_file(
                    here / file, source.name((here / file).relative_to(source.path))
                )


def _load_file(loader: _Loader, source: Source) -> None:
    path, name = source.path, source.name()
    if path.name == SKILL_FILE:
        loader.skill_folder(path.parent, name.removesuffix(SKILL_FILE).rstrip("/"), name)
    elif path.name in SHEET_FILES:
        if loader.first_time(path):
            loader.sheet_file(path, name)
    elif path.suffix in YAML_SUFFIXES:
        loader.definition_file(path, name)
    else:
        raise UsageError(f"{name}: not a YAML definition, {SKILL_FILE} or actions.yaml")


def is_fleet_root(directory: FsPath) -> bool:
    """Whether ``directory`` holds agents/, environments/ or skills/."""
    return any((directory / sub).is_dir() for sub in FLEET_DIRS)


def load(sources: Iterable[Source]) -> tuple[Fleet, list[Diagnostic]]:
    """Load every source; raise ``UsageError`` for a path that does not exist."""
    loader = _Loader()
    for source in sources:
        if source.path.is_dir():
            if is_fleet_root(source.path):
                _load_fleet_root(loader, source)
            else:
                _load_directory(loader, source)
        elif source.path.is_file():
            _load_file(loader, source)
        else:
            raise UsageError(f"{source.name() or '.'}: no such file or directory")
    return loader.fleet, loader.diagnostics
