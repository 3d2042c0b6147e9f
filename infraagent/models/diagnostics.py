"""Diagnostics: one problem found in a fleet definition, located exactly.

Used by ``infraagent validate`` and by the reconciler's status. A diagnostic names the file
(relative to the fleet root), the 1-based line and column, the field path and a plain
sentence. Formatting for humans, JSON and GitHub lives with the command line, not here.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from infraagent.models.common import Model


class DiagnosticSeverity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Diagnostic(Model):
    """One problem in one file."""

    severity: DiagnosticSeverity = Field(description="error or warning.")
    file: str = Field(description="Path relative to the fleet root, with '/' separators.")
    line: int = Field(ge=1, description="1-based line.")
    column: int = Field(ge=1, description="1-based column.")
    field: str = Field("", description="Dotted field path, e.g. spec.schedule.cron.")
    message: str = Field(description="What is wrong, in a plain sentence.")
    code: str = Field(description="Stable id of the check, e.g. schema, yaml, missing-skill.")

    @property
    def is_error(self) -> bool:
        return self.severity is DiagnosticSeverity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.message)
