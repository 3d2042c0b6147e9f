"""The exact values of the credentials an environment binds, in every spelling tool output
may show them: as written, JSON-escaped (Python's and Go's escaping, and escaped twice for
JSON inside JSON), percent-encoded, and base64 (standard and URL-safe), both a Secret's
``base64(value)`` and the characters that any base64 text holding the value contains
whatever its alignment, so ``base64(prefix + value + suffix)`` is caught too.

Values shorter than ``MIN_LENGTH`` are ignored (they would redact ordinary words), and so is
any spelling that occurs inside the ``[REDACTED]`` marker itself. Spellings are computed
once per ``Redactor`` and grouped under a probe that each of them contains, so ordinary
text costs one substring search per probe. Values are matched exactly: not
case-insensitively, and a multi-line value only as a whole.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Final, NamedTuple
from urllib.parse import quote, quote_plus

from infraagent.redaction.spans import REDACTED

MIN_LENGTH: Final = 4
"""Credential values shorter than this are not redacted by value."""
_MIN_FRAGMENT: Final = 8


class Probe(NamedTuple):
    """``needle`` is in every one of ``spellings`` (longest first)."""

    needle: str
    spellings: tuple[str, ...]


def _text_spellings(value: str) -> set[str]:
    python = json.dumps(value)[1:-1]
    raw = json.dumps(value, ensure_ascii=False)[1:-1]
    go = raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    twice = json.dumps(raw, ensure_ascii=False)[1:-1]
    return {value, python, raw, go, twice, quote(value, safe=""), quote_plus(value, safe="")}


def _base64_probes(data: bytes) -> list[Probe]:
    probes: list[Probe] = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in (0, 1, 2):
            encoded = encode(b"\0" * offset + data).decode("ascii")
            fragment = encoded[-(-offset * 8 // 6) : (offset + len(data)) * 8 // 6]
            long_enough = len(fragment) >= _MIN_FRAGMENT  # shorter ones hit unrelated base64
            if offset == 0:  # the fragment is a prefix of the whole encoding: one search
                probes.append(Probe(fragment or encoded, (encoded, fragment)[: 1 + long_enough]))
            elif long_enough:
                probes.append(Probe(fragment, (fragment,)))
    return probes


def probes(values: Iterable[str]) -> tuple[Probe, ...]:
    """Every spelling of every usable value, grouped by probe, longest probes first."""
    grouped: dict[str, set[str]] = {}
    for value in values:
        if len(value) < MIN_LENGTH or not value.strip():
            continue
        found = [Probe(spelling, (spelling,)) for spelling in _text_spellings(value)]
        found += _base64_probes(value.encode("utf-8"))
        for probe in found:
            usable = {s for s in probe.spellings if len(s) >= MIN_LENGTH and s not in REDACTED}
            if usable and len(probe.needle) >= MIN_LENGTH and probe.needle not in REDACTED:
                grouped.setdefault(probe.needle, set()).update(usable)
    return tuple(
        Probe(needle, tuple(sorted(spellings, key=lambda s: (-len(s), s))))
        for needle, spellings in sorted(grouped.items(), key=lambda item: (-len(item[0]), item[0]))
    )


def replace_known(text: str, known: tuple[Probe, ...]) -> str:
    """``text`` with every spelling of every probe found in it replaced, longest first."""
    hits = [probe for probe in known if probe.needle in text]
    if not hits:
        return text
    spellings = sorted({s for probe in hits for s in probe.spellings}, key=lambda s: (-len(s), s))
    for spelling in spellings:
        if spelling in text:
            text = text.replace(spelling, REDACTED)
    return text
