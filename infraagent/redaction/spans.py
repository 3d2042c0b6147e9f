"""Replacement spans: the one way every text rule edits its input.

A rule never rebuilds the text itself; it reports ``Span(start, end, text)`` and
``apply_spans`` splices all of them in one pass, so rules run on the same input and cannot
disturb each other's offsets. Overlapping spans merge into the outermost one. Nothing here
knows what a secret looks like.
"""

from __future__ import annotations

from typing import Final, NamedTuple

REDACTED: Final = "[REDACTED]"
"""What every secret becomes."""


class Span(NamedTuple):
    """Replace ``source[start:end]`` by ``text``."""

    start: int
    end: int
    text: str = REDACTED


def apply_spans(source: str, spans: list[Span]) -> str:
    """``source`` with every span replaced; overlapping spans merge (the first one's text)."""
    if not spans:
        return source
    spans.sort(key=lambda span: (span.start, -span.end))
    parts: list[str] = []
    position = 0
    start, end, text = spans[0]
    for span in spans[1:]:
        if span.start < end:
            end = max(end, span.end)
            continue
        parts.append(source[position:start])
        parts.append(text)
        position = end
        start, end, text = span
    parts.append(source[position:start])
    parts.append(text)
    parts.append(source[end:])
    return "".join(parts)
