"""From parsed YAML to models: one definition document, a ``SKILL.md`` or an ``actions.yaml``.

Each function takes text or a parsed document plus the file name to report, and returns
the validated model (or None) together with located ``Diagnostic`` records: YAML problems,
schema errors rephrased as plain sentences, an unknown ``kind``, a skill whose name is not
its folder's, an empty skill body.

It deliberately reads no files and compares nothing across documents: discovery lives in
``fleet`` and cross-references in ``crossref``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from infraagent.loading.messages import describe_value, error_message, render_path
from infraagent.loading.yamlpos import Mark, ParsedDocument, Path, YamlProblem, parse_yaml
from infraagent.models import (
    GROUP_VERSION,
    KINDS,
    ActionSheet,
    Diagnostic,
    DiagnosticSeverity,
    Resource,
    SkillManifest,
)

FLEET_KINDS: Final = ("InfraAgent", "AgentEnvironment", "ModelTierConfig")
"""Kinds a fleet repository defines; AgentRun is written by the operator, never by hand."""

M = TypeVar("M", bound=BaseModel)


def diagnostic(
    file: str,
    mark: Mark,
    message: str,
    code: str,
    path: Path = (),
    *,
    severity: DiagnosticSeverity = DiagnosticSeverity.ERROR,
) -> Diagnostic:
    """A located diagnostic."""
    return Diagnostic(
        severity=severity,
        file=file,
        line=mark[0],
        column=mark[1],
        field=render_path(path),
        message=message,
        code=code,
    )


def problem_diagnostic(file: str, problem: YamlProblem) -> Diagnostic:
    """A diagnostic for a problem with the YAML itself."""
    mark = (problem.line, problem.column)
    return diagnostic(file, mark, problem.message, problem.code, problem.path)


@dataclass(frozen=True)
class Definition:
    """One definition document of a fleet, valid or not.

    ``model`` is None when the document did not validate; ``error_paths`` then lists where
    the errors were, so cross-reference checks can still use the parts that are sound.
    """

    file: str
    kind: str
    doc: ParsedDocument
    model: Resource | None
    error_paths: tuple[Path, ...]

    def usable(self, path: Path) -> bool:
        """Whether no schema error concerns ``path``, one of its parents or its children."""
        return not any(
            path[: len(error)] == error or error[: len(path)] == path for error in self.error_paths
        )

    def raw(self, path: Path) -> Any:
        """The value at ``path`` as written, valid or not; None when absent."""
        current: Any = self.doc.data
        for part in path:
            present = (isinstance(current, dict) and part in current) or (
                isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
            )
            if not present:
                return None
            current = current[part]
        return current

    def text(self, path: Path) -> str | None:
        """The string at ``path``, or None when absent, not a string or not usable."""
        value = self.raw(path)
        return value if isinstance(value, str) and self.usable(path) else None


def validate_model(
    model: type[M], doc: ParsedDocument, file: str
) -> tuple[M | None, list[Diagnostic], tuple[Path, ...]]:
    """Validate ``doc`` as ``model``; return it or the located errors and their paths."""
    try:
        return model.model_validate(doc.data), [], ()
    except ValidationError as error:
        diagnostics: list[Diagnostic] = []
        paths: list[Path] = []
        for detail in error.errors():
            path, mark = doc.locate_error(detail)
            message = error_message(detail, path, model)
            if detail["loc"] and detail["loc"][-1] == "[key]" and detail["type"] != "value_error":
                message = f"invalid key: {message}"
            diagnostics.append(diagnostic(file, mark, message, "schema", path))
            paths.append(path)
        return None, diagnostics, tuple(paths)


def check_definition(doc: ParsedDocument, file: str) -> tuple[Definition | None, list[Diagnostic]]:
    """Validate one document of an agents/ or environments/ file.

    Returns None (and no diagnostics) for an empty document such as a trailing ``---``.
    """
    diagnostics = [problem_diagnostic(file, p) for p in doc.problems]
    data = doc.data
    if data is None:
        return None, diagnostics
    if not isinstance(data, dict):
        message = (
            "expected a Kubernetes object (a mapping with apiVersion, kind, metadata and "
            f"spec), got {describe_value(data)}"
        )
        return None, [*diagnostics, diagnostic(file, doc.start, message, "schema")]
    kind = data.get("kind")
    problem = _kind_problem(kind, data.get("apiVersion"))
    if problem is not None or not isinstance(kind, str):
        path: Path = ("kind",) if "kind" in data else ()
        mark = doc.value_mark(path) if path else doc.start
        message = problem or "kind must be a string"
        return None, [*diagnostics, diagnostic(file, mark, message, "unknown-kind", path)]
    model, errors, error_paths = validate_model(KINDS[kind], doc, file)
    metadata = data.get("metadata")
    if isinstance(metadata, dict) and "name" not in metadata:
        message = "missing required field 'name': a fleet definition is applied by its name"
        mark = doc.key_mark(("metadata",))
        errors.append(diagnostic(file, mark, message, "schema", ("metadata", "name")))
    definition = Definition(file, kind, doc, model, error_paths)
    return definition, [*diagnostics, *errors]


def _kind_problem(kind: object, api_version: object) -> str | None:
    if kind in FLEET_KINDS:
        return None
    if kind is None:
        return f"missing required field 'kind'; expected one of {', '.join(FLEET_KINDS)}"
    if kind == "AgentRun":
        return (
            "AgentRun is the audit record the operator writes for each run; "
            "it is not a fleet definition"
        )
    where = "" if api_version == GROUP_VERSION else f" ({describe_value(api_version)})"
    return (
        f"kind {describe_value(kind)}{where} is not an InfraAgent definition; "
        f"expected apiVersion {GROUP_VERSION} and one of {', '.join(FLEET_KINDS)}"
    )


def check_action_sheet(text: str, file: str) -> tuple[ActionSheet | None, list[Diagnostic]]:
    """Parse and validate an ``actions.yaml``."""
    documents, syntax = parse_yaml(text)
    diagnostics = [problem_diagnostic(file, p) for d in documents for p in d.problems]
    if syntax is not None:
        return None, [*diagnostics, problem_diagnostic(file, syntax)]
    meaningful = [d for d in documents if d.data is not None]
    if len(meaningful) != 1:
        message = f"an Action Sheet is one YAML document with 'actions:'; found {len(meaningful)}"
        mark = meaningful[1].start if len(meaningful) > 1 else (1, 1)
        return None, [*diagnostics, diagnostic(file, mark, message, "schema")]
    sheet, errors, _ = validate_model(ActionSheet, meaningful[0], file)
    return (sheet if not diagnostics else None), [*diagnostics, *errors]


@dataclass(frozen=True)
class SkillText:
    """A ``SKILL.md`` split into its manifest and its instructions."""

    manifest: SkillManifest | None
    body: str


def check_skill_md(text: str, file: str, folder: str) -> tuple[SkillText, list[Diagnostic]]:
    """Parse a ``SKILL.md``: frontmatter between ``---`` lines, then a non-empty body.

    ``folder`` is the name of the skill's folder, which the manifest's ``name`` must equal.
    The manifest is returned when the frontmatter itself is valid, even if the rest is not.
    """
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "---":
        message = "SKILL.md must start with YAML frontmatter between two '---' lines"
        return SkillText(None, text), [diagnostic(file, (1, 1), message, "skill-frontmatter")]
    close = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == "---"), None)
    if close is None:
        message = f"the frontmatter opened on line {first + 1} is never closed by a '---' line"
        return SkillText(None, ""), [diagnostic(file, (first + 1, 1), message, "skill-frontmatter")]
    frontmatter = "".join(lines[first + 1 : close])
    manifest, doc, diagnostics = _check_frontmatter(frontmatter, first + 1, file)
    if manifest is not None and doc is not None and manifest.name != folder:
        message = f"skill name {manifest.name!r} must equal its folder name {folder!r}"
        mark = doc.value_mark(("name",))
        diagnostics.append(diagnostic(file, mark, message, "skill-name", ("name",)))
    body = "".join(lines[close + 1 :]).strip()
    if not body:
        message = "SKILL.md has no instructions after the frontmatter"
        diagnostics.append(diagnostic(file, (close + 1, 1), message, "skill-body"))
    return SkillText(manifest, body), diagnostics


def _check_frontmatter(
    text: str, line_offset: int, file: str
) -> tuple[SkillManifest | None, ParsedDocument | None, list[Diagnostic]]:
    documents, syntax = parse_yaml(text, line_offset)
    diagnostics = [problem_diagnostic(file, p) for d in documents for p in d.problems]
    if syntax is not None:
        return None, None, [*diagnostics, problem_diagnostic(file, syntax)]
    if not documents or documents[0].data is None:
        message = "the frontmatter is empty; it needs at least name and description"
        mark = (line_offset, 1)
        return None, None, [*diagnostics, diagnostic(file, mark, message, "skill-frontmatter")]
    if len(documents) > 1:
        message = "the frontmatter must be a single YAML document"
        mark = documents[1].start
        return None, None, [*diagnostics, diagnostic(file, mark, message, "skill-frontmatter")]
    manifest, errors, _ = validate_model(SkillManifest, documents[0], file)
    return manifest, documents[0], [*diagnostics, *errors]
