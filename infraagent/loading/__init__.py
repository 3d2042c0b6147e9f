"""Loading fleet definitions from files: YAML with positions, models, cross-references.

This is an edge package: it reads files. ``validate`` loads the given sources and runs
every check, returning the loaded ``Fleet`` and all diagnostics in a stable order (file,
line, column, message). It raises ``UsageError`` for a path that does not exist; every
problem inside the files is a ``Diagnostic``, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable

from infraagent.loading.crossref import check
from infraagent.loading.fleet import Fleet, Skill, Source, load
from infraagent.models import Diagnostic


def validate(sources: Iterable[Source]) -> tuple[Fleet, list[Diagnostic]]:
    """Load ``sources`` and check them, each on its own and against each other."""
    fleet, diagnostics = load(sources)
    diagnostics.extend(check(fleet))
    return fleet, sorted(diagnostics, key=Diagnostic.sort_key)


__all__ = ["Fleet", "Skill", "Source", "load", "validate"]
