"""Glob matching with the semantics of ``fnmatch.fnmatchcase``, compiled once.

Globs appear in Action Sheets (namespaces, names, URLs, MCP tools) and in an agent's
allow and deny lists. They are anchored at both ends and case-sensitive. This module
only compiles and matches; it knows nothing about what the strings mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import translate
from functools import lru_cache


@lru_cache(maxsize=8192)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


@dataclass(frozen=True, slots=True)
class GlobSet:
    """A set of globs; matches when any one matches. ``*`` alone matches everything."""

    patterns: tuple[str, ...]
    everything: bool
    regex: re.Pattern[str] | None

    @classmethod
    def of(cls, patterns: Iterable[str]) -> GlobSet:
        items = tuple(patterns)
        if "*" in items:
            return cls(items, True, None)
        if not items:
            return cls(items, False, None)
        joined = "|".join(f"(?:{_compile(p).pattern})" for p in items)
        return cls(items, False, re.compile(joined))

    def matches(self, value: str) -> bool:
        if self.everything:
            return True
        return self.regex is not None and self.regex.match(value) is not None
