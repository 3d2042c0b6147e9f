"""JSON read as text: Secret ``data`` / ``stringData`` values in JSON renderings (``kubectl
get -o json``, lists of Secrets, the ``last-applied-configuration`` JSON that ``-o yaml``
prints), JSON documents escaped inside JSON strings, and ``name`` / ``value`` pairs.

``secret_data_spans`` starts at each ``"data": {`` / ``"stringData": {``. Pretty-printed
JSON (kubectl's) is judged by its lines, like YAML: the object's ``kind`` and ``type`` are
the sibling lines at the key's indentation. Anything else (compact JSON, a kind that cannot
be found) is walked token by token from the start of the JSON value, remembering per object
its ``kind``, ``type`` and the values of its data maps until it closes. A Secret is ``kind:
Secret``, or no ``kind`` and a Secret ``type``; ``stringData`` is always redacted; an
object cut off before it closes (truncated output) with an ``apiVersion`` but no kind seen
is treated as a Secret: fail closed. Offsets are kept; only string contents change.

``escaped_document_spans`` finds JSON documents serialised inside JSON strings (the
``last-applied-configuration`` annotation as ``kubectl get -o json`` prints it), redacts the
decoded text with the caller's function and re-encodes the string; that string's escaping
is the only formatting that may change. No YAML is read here (see ``yamlish``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Final

from infraagent.redaction.names import placeholder, secret_name, secret_type
from infraagent.redaction.spans import REDACTED, Span
from infraagent.redaction.yamlish import lines_above, shallow_line

_INNER: Final = r'[^"\\\n]*+(?:\\.[^"\\\n]*+)*+'
"""The inside of a JSON string, unrolled so the engine does not branch per character."""
_WORDS: Final = "(?:kind|type|apiVersion|data|stringData)"
_EVENT: Final = re.compile(
    # skipped in C: text outside strings, and every string but the four words we need
    r'(?:[^"{}\[\]]++|"(?!' + _WORDS + '")' + _INNER + '")*+'
    r"(?:(?P<brace>[{}\[\]])"
    r'|"(?P<key>kind|type|apiVersion)"[ \t\r\n]*:[ \t\r\n]*(?:"(?P<value>' + _INNER + ')")?'
    r'|"(?P<role>data|stringData)"[ \t\r\n]*:[ \t\r\n]*(?=\{)'
    r'|"' + _WORDS + '"|"|(?P<end>\\Z))'
)
_FLAT_VALUE: Final = re.compile(
    '"' + _INNER + '"[ \t\r\n]*:[ \t\r\n]*"(?P<value>' + _INNER + ')(?:"|\\Z)'
)
_DATA_OPEN: Final = re.compile(r'ata"[ \t\r\n]*:[ \t\r\n]*\{')
_KIND_OR_TYPE: Final = re.compile(r'"(kind|type)"[ \t]*:[ \t]*"(' + _INNER + ')"')
_OBJECT_KEYS: Final = 16  # sibling lines searched for "kind" around a data map
_ATTRIBUTES: Final = {"kind": "kind", "type": "type", "apiVersion": "api_version"}
_SEPARATOR: Final = "\n\x00\x00\n"
_ESCAPED_DOCUMENT: Final = re.compile(r'"(?:\{|\[\{)\\"' + _INNER + '"')
_ENV: Final = (
    re.compile(r'"name"\s*:\s*"(?P<name>[^"\\]*)"\s*,\s*"value"\s*:\s*"(?P<value>' + _INNER + ')"'),
    re.compile(
        r'"value"\s*:\s*"(?P<value>' + _INNER + r')"\s*,\s*"name"\s*:\s*"(?P<name>[^"\\]*)"'
    ),
)


class _Object:
    """What is known of one open JSON object."""

    __slots__ = ("api_version", "kind", "pending", "role", "start", "type", "upcoming")

    def __init__(self, role: str | None, start: int) -> None:
        self.role = role
        self.start = start
        self.upcoming: str | None = None
        self.kind: str | None = None
        self.type: str | None = None
        self.api_version: str | None = None
        self.pending: list[Span] = []


def _decode(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        decoded = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return decoded if isinstance(decoded, str) else raw


def secret_data_spans(text: str) -> list[Span]:
    """The string values of every Secret ``data`` / ``stringData`` map in JSON text."""
    spans: list[Span] = []
    covered = -1
    for found in _DATA_OPEN.finditer(text):
        start = found.start()
        if start < covered:
            continue
        if text[start - 2 : start] == '"d':
            key, key_start = "data", start - 2
        elif text[start - 8 : start] == '"stringD':
            key, key_start = "stringData", start - 8
        else:
            continue
        if not _pretty(text, key_start, key, found.end(), spans):
            covered = _scan(text, _value_start(text, key_start), spans)
    return spans


def _value_start(text: str, position: int) -> int:
    """Where the JSON value holding ``position`` starts: the first bracket on its line, or
    else the last line that starts with one (pretty-printed output)."""
    line_start = text.rfind("\n", 0, position) + 1
    for bracket in "{[":
        found = text.find(bracket, line_start, position)
        if found >= 0:
            return found
    starts = [text.rfind("\n" + bracket, 0, position) + 1 for bracket in "{["]
    return max(starts) if max(starts) > 0 else (0 if text[:1] in ("{", "[") else line_start)


def _pretty(text: str, key_start: int, key: str, open_end: int, spans: list[Span]) -> bool:
    """Judge a ``data`` map of pretty-printed JSON (kubectl's ``-o json``) by its lines, as
    ``yamlish`` does: the siblings of the key are the lines at its indentation. False when
    the layout is not that, or the object's kind cannot be told from it."""
    line_start = text.rfind("\n", 0, key_start) + 1
    col = key_start - line_start
    newline = text.find("\n", open_end)
    if text[line_start:key_start].strip(" ") or newline < 0 or text[open_end:newline].strip():
        return False
    close = shallow_line(col).search(text, newline)
    if close is None or len(close[1]) != col or text[close.end() : close.end() + 1] != "}":
        return False
    values = [
        Span(match.start("value"), match.end("value"))
        for match in _FLAT_VALUE.finditer(text, open_end, close.start())
        if match["value"] != REDACTED
    ]
    secret = True if key == "stringData" else _pretty_secret(text, line_start, close.start(), col)
    if secret:
        spans.extend(values)
    return secret is not None


def _pretty_secret(text: str, line_start: int, after: int, col: int) -> bool | None:
    """Whether the object whose keys are at ``col`` is a Secret; None when not known."""
    found: dict[str, str] = {}
    shallow = shallow_line(col)
    position = after
    for _ in range(_OBJECT_KEYS):
        match = shallow.search(text, position)
        if match is None or len(match[1]) < col or "kind" in found:
            break
        pair = _KIND_OR_TYPE.match(text, match.end())
        if pair is not None:
            found.setdefault(pair[1], pair[2])
        position = match.end()
    for start, indent in lines_above(text, line_start, col, _OBJECT_KEYS):
        if indent < col or "kind" in found:
            break
        pair = _KIND_OR_TYPE.match(text, start + indent)
        if pair is not None:
            found.setdefault(pair[1], pair[2])
    if "kind" in found:
        return found["kind"] == "Secret"
    return True if secret_type(found.get("type")) else None


def _scan(text: str, position: int, spans: list[Span]) -> int:
    """Walk one JSON value from ``position``; returns where it ends."""
    stack: list[_Object | None] = []
    for event in _EVENT.finditer(text, position):
        if event["end"] is not None:
            break
        top = stack[-1] if stack else None
        brace = event["brace"]
        if brace in ("{", "["):
            role = top.upcoming if top is not None and brace == "{" else None
            stack.append(_Object(role, event.start("brace")) if brace == "{" else None)
        elif brace is not None:
            if stack:
                closed = stack.pop()
                _close(text, closed, stack[-1] if stack else None, event.end(), spans, cut=False)
            if not stack:
                return event.end()
        if top is None:
            continue
        top.upcoming = event["role"]
        if event["value"] is not None:
            setattr(top, _ATTRIBUTES[event["key"]], _decode(event["value"]))
    while stack:
        closed = stack.pop()
        _close(text, closed, stack[-1] if stack else None, len(text), spans, cut=True)
    return len(text)


def _close(
    text: str,
    closed: _Object | None,
    parent: _Object | None,
    end: int,
    spans: list[Span],
    *,
    cut: bool,
) -> None:
    if closed is None:
        return
    if closed.role is not None:
        values = [
            Span(match.start("value"), match.end("value"))
            for match in _FLAT_VALUE.finditer(text, closed.start, end)
            if match["value"] != REDACTED
        ]
        if closed.role == "stringData" or parent is None:
            spans.extend(values)
        else:
            parent.pending.extend(values)
    elif closed.kind == "Secret" or (
        closed.kind is None and (secret_type(closed.type) or (cut and closed.api_version))
    ):
        spans.extend(closed.pending)


def escaped_document_spans(text: str, redact: Callable[[str], str]) -> list[Span]:
    """JSON strings holding a JSON document, re-encoded after ``redact`` changed them.
    All documents are redacted in one call (joined by a line no rule can cross), so ten
    ``last-applied-configuration`` annotations cost about one call, not ten."""
    found: list[tuple[re.Match[str], str]] = []
    for match in _ESCAPED_DOCUMENT.finditer(text):
        try:
            decoded = json.loads(match[0])
        except ValueError:
            continue
        if isinstance(decoded, str) and _SEPARATOR not in decoded:
            found.append((match, decoded))
    if not found:
        return []
    redacted = redact(_SEPARATOR.join(decoded for _, decoded in found)).split(_SEPARATOR)
    if len(redacted) != len(found):
        redacted = [redact(decoded) for _, decoded in found]
    return [
        Span(match.start(), match.end(), json.dumps(after, ensure_ascii=False))
        for (match, before), after in zip(found, redacted, strict=True)
        if after != before
    ]


def env_value_spans(text: str) -> Iterator[Span]:
    """``"value"`` of each JSON object whose adjacent ``"name"`` is secret."""
    for pattern in _ENV:
        for match in pattern.finditer(text):
            if secret_name(match["name"]) and not placeholder(match["value"]):
                yield Span(match.start("value"), match.end("value"))
