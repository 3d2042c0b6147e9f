"""YAML read by its lines: Secret ``data`` / ``stringData`` blocks and ``name`` / ``value``
pairs whose name is secret, found in text as printed (``kubectl get -o yaml``, manifests,
multi-document streams, lists of objects).

Nothing is parsed: a key's siblings are the lines at its column up to the enclosing list
item, parent or ``---``; a value runs on over the lines indented deeper than its key. So a
Secret is recognised whether ``kind: Secret`` comes before or after ``data:`` (kubectl sorts
keys, so it comes after), and each item of a list is judged on its own. ``data`` is a
Secret's only when a sibling says ``kind: Secret``, or there is no ``kind`` and the ``type``
is a Secret type (a ConfigMap's ``data`` is not redacted wholesale); ``stringData`` exists
only on Secrets and is always redacted. Keys are kept, every value becomes ``[REDACTED]``.
Generic ``key: value`` pairs are not handled here (see ``patterns``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Final, NamedTuple

from infraagent.redaction.names import placeholder, secret_name, secret_type
from infraagent.redaction.spans import REDACTED, Span

_DATA_KEY: Final = re.compile(  # "metadata:" and "binaryData:" are rejected here, in C
    r"ata:(?:(?<=[\n -]data:)|(?<=[\n -]stringData:)|(?<=^data:))"
    r"[ \t]*(?P<flow>\{.*?\})?[ \t]*(?:#.*?)?\r?$",
    re.M,
)
_DATA_LINE: Final = re.compile(r"(?P<indent>[ ]*)(?P<dash>- )?(?P<key>data|stringData)")
_KEY: Final = re.compile(
    r"(?P<key>\"[^\"\n]*\"|'[^'\n]*'|[^\s#\"'\-?:,\[\]{}][^:\n]*?)[ \t]*:(?:[ \t]+|$)"
)
_NESTED: Final = re.compile(r"[-{\[]|[^\s#\"'][^:\n]*:(?:[ \t]|$)|\"[^\"\n]*\":(?:[ \t]|$)")
_ENV_VALUE: Final = re.compile(r"value:(?:[ \t]|\r?$)", re.M)
_FLOW_VALUE: Final = re.compile(
    r"[{,][ \t]*[^:,{}\s][^:,{}]*?[ \t]*:[ \t]*([^,{}]*?)[ \t]*(?=[,}])"
)
_NAME_ABOVE: Final = re.compile(r"( *)- name:[ \t]*[\"']?([A-Za-z_][A-Za-z0-9_.-]*)[\"']?[ \t]*\r?")
_SPACES: Final = re.compile(r" *")
_NEXT_CONTENT: Final = re.compile(r"\n( *)(?=[^ \r\n#])")
"""The next line that is neither blank nor a comment, and its indentation."""
_OBJECT_KEYS: Final = 16  # more top-level keys than any Kubernetes object has
_ENTRY_KEYS: Final = 8  # an env entry has name, value, valueFrom
_KIND_TYPE: Final = frozenset({"kind", "type"})  # min() is "kind": finding it is enough
_NAME: Final = frozenset({"name"})


class Entry(NamedTuple):
    """A key's line: where its value starts and where the line's content ends."""

    line_start: int
    value_start: int
    content_end: int


@lru_cache(maxsize=128)
def shallow_line(col: int) -> re.Pattern[str]:
    """Finds the next line indented ``col`` spaces or fewer that is not blank nor a comment:
    the regex engine skips the deeper lines, so a block costs one search, not a loop."""
    return re.compile(rf"\n( {{0,{col}}})(?=[^ \r\n#])")


def _line_end(text: str, start: int) -> tuple[int, int]:
    """(end of the line's content without ``\\r\\n``, start of the next line)."""
    newline = text.find("\n", start)
    if newline < 0:
        return len(text), len(text)
    end = newline - 1 if newline > start and text[newline - 1] == "\r" else newline
    return end, newline + 1


def _indent(text: str, start: int, end: int) -> int:
    """Leading spaces of the line, or -1 when it is blank or a comment."""
    position = _SPACES.match(text, start, end).end()  # type: ignore[union-attr]
    if position == end or text[position] in "#\t":
        return -1
    return position - start


def _dashed(text: str, position: int, end: int) -> bool:
    return text.startswith("- ", position) or text[position:end] == "-"


def _entry(text: str, start: int, end: int) -> tuple[str, Entry] | None:
    match = _KEY.match(text, start, end)
    if match is None:
        return None
    return match["key"].strip("\"'"), Entry(start, match.end(), end)


class Budget:
    """Searches left for siblings in one text: crafted output (thousands of ``data:``
    lines) cannot make redaction slow. When it runs out, undecided values are redacted."""

    def __init__(self, searches: int = 4096) -> None:
        self.left = searches

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def siblings(
    text: str,
    line_start: int,
    col: int,
    wanted: frozenset[str],
    *,
    dashed: bool,
    reach: int,
    budget: Budget,
) -> dict[str, Entry] | None:
    """The keys in ``wanted`` of the mapping holding the key at ``col`` on ``line_start``,
    among at most ``reach`` sibling lines below (kubectl prints ``kind`` after ``data``)
    and ``reach`` above; finding ``min(wanted)`` ends the search. Deeper lines are skipped
    by the regex engine. None when ``budget`` ran out before an answer."""
    found: dict[str, Entry] = {}
    shallow = shallow_line(col)
    position = _line_end(text, line_start)[0]
    for _ in range(reach):
        if not budget.spend():
            return None
        match = shallow.search(text, position)
        if match is None or len(match[1]) < col or text.startswith(("---", "..."), match.end()):
            break
        position = _line_end(text, match.end())[0]
        if _record(text, match.end(), position, wanted, found):
            return found
    for start, indent in [] if dashed else lines_above(text, line_start, col, reach):
        if not budget.spend():
            return None
        end = _line_end(text, start)[0]
        if indent == col and _record(text, start + col, end, wanted, found):
            break
        if indent == col - 2 and _dashed(text, start + indent, end):
            _record(text, start + col, end, wanted, found)  # our list item's first key
        if indent < col or (indent == 0 and text.startswith(("---", "..."), start)):
            break
    return found


@lru_cache(maxsize=8)
def _reversed(text: str) -> str:
    return text[::-1]


@lru_cache(maxsize=128)
def _shallow_above(col: int) -> re.Pattern[str]:
    """On the reversed text: a line's first character, at most ``col`` spaces, its start."""
    return re.compile(rf"[^ \r\n#]( {{0,{col}}})(?:\n|\Z)")


def lines_above(text: str, line_start: int, col: int, reach: int) -> Iterator[tuple[int, int]]:
    """(start, indentation) of the lines above ``line_start`` indented ``col`` spaces or
    fewer, nearest first, at most ``reach``: a forward search over the reversed text."""
    backwards = _reversed(text)
    pattern = _shallow_above(col)
    position = len(text) - line_start + 1
    for _ in range(reach):
        match = pattern.search(backwards, position)
        if match is None:
            return
        indent = len(match[1])
        yield len(text) - 1 - match.start() - indent, indent
        position = match.end()


def _record(
    text: str, start: int, end: int, wanted: frozenset[str], found: dict[str, Entry]
) -> bool:
    """Note the key at ``start`` if it is wanted (a dash there is a sequence written at its
    parent key's column, not a key); True when it is ``min(wanted)``, which is enough."""
    if _dashed(text, start, end):
        return False
    pair = _entry(text, start, end)
    if pair is None or pair[0] not in wanted:
        return False
    found.setdefault(*pair)
    return pair[0] == min(wanted)


def _scalar(text: str, entry: Entry | None) -> str | None:
    if entry is None:
        return None
    value = text[entry.value_start : entry.content_end].split(" #", 1)[0]
    return value.strip().strip("\"'")


def _content_end(text: str, start: int, stop: int) -> int:
    """End of the last non-blank character in ``text[start:stop]`` (``start`` if none)."""
    end = stop
    while end > start and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def block_end(text: str, after: int, key_col: int) -> int:
    """End of the last line after position ``after`` indented deeper than ``key_col``
    (``after`` itself when there is none); blank lines in between belong to the block."""
    match = shallow_line(key_col).search(text, after)
    return _content_end(text, after, match.start() if match else len(text))


def value_span(text: str, entry: Entry, key_col: int, *, every: bool = False) -> Span | None:
    """The span of the value of ``entry`` (a key at ``key_col``), continuation lines
    included. ``every``: redact placeholders and nested structures too (Secret data)."""
    inline = text[entry.value_start : entry.content_end]
    last = block_end(text, entry.content_end, key_col)
    if inline.strip():
        if last == entry.content_end and (
            inline == REDACTED or (not every and placeholder(inline))
        ):
            return None
        return Span(entry.value_start, last)
    if last == entry.content_end:
        return None
    if not every:
        first = _NEXT_CONTENT.search(text, entry.content_end)
        if first is not None and _NESTED.match(text, first.end()):
            return None
    return Span(entry.content_end, last, " " + REDACTED)


def secret_data_spans(text: str) -> Iterator[Span]:
    """Every value of every Secret ``data`` and ``stringData`` block."""
    budget = Budget()
    for found in _DATA_KEY.finditer(text):
        line_start = text.rfind("\n", 0, found.start()) + 1
        match = _DATA_LINE.fullmatch(text, line_start, found.start() + 3)
        if match is None:
            continue
        col = len(match["indent"]) + (2 if match["dash"] else 0)
        dashed = bool(match["dash"])
        if match["key"] == "data" and not _is_secret(text, line_start, col, dashed, budget):
            continue
        if found["flow"] is not None:
            yield from _flow_spans(found["flow"], found.start("flow"))
        else:
            yield from _children(text, _line_end(text, line_start)[0], col)


def _is_secret(text: str, line_start: int, col: int, dashed: bool, budget: Budget) -> bool:
    following = shallow_line(col).search(text, _line_end(text, line_start)[0])
    if following and len(following[1]) == col and text.startswith("kind:", following.end()):
        line = text[following.end() + 5 : _line_end(text, following.end())[0]]
        return line.strip().strip("\"'") == "Secret"  # kubectl's order: data, kind
    found = siblings(
        text, line_start, col, _KIND_TYPE, dashed=dashed, reach=_OBJECT_KEYS, budget=budget
    )
    if found is None:
        return True
    kind = _scalar(text, found.get("kind"))
    if kind is not None:
        return kind == "Secret"
    return secret_type(_scalar(text, found.get("type")))


def _flow_spans(flow: str, offset: int) -> Iterator[Span]:
    inner = flow[1:-1]
    if "'" in inner or '"' in inner or "{" in inner:
        if inner.strip() and inner.strip() != REDACTED:
            yield Span(offset + 1, offset + len(flow) - 1)
        return
    for match in _FLOW_VALUE.finditer(flow):
        if match[1] and match[1] != REDACTED:
            yield Span(offset + match.start(1), offset + match.end(1))


def _children(text: str, after: int, col: int) -> Iterator[Span]:
    """Values of the mapping after position ``after`` whose entries are deeper than ``col``:
    each entry runs from a line at the entries' column to the next such line."""
    stop_match = shallow_line(col).search(text, after)
    stop = stop_match.start() if stop_match else len(text)
    first = _NEXT_CONTENT.search(text, after, stop)
    if first is None:
        return
    entries = shallow_line(len(first[1]))
    start = first.start() + 1
    while start < stop:
        following = entries.search(text, _line_end(text, start)[0], stop)
        next_start = following.start() + 1 if following else stop
        last = _content_end(text, start, next_start)
        span = _child_span(text, start, last, len(first[1]))
        if span is not None:
            yield span
        start = next_start


def _child_span(text: str, start: int, last: int, child_col: int) -> Span | None:
    end = _line_end(text, start)[0]
    indent = _indent(text, start, end)
    pair = None
    if indent == child_col and not _dashed(text, start + indent, end):
        pair = _entry(text, start + indent, end)
    if pair is None:
        content = start + max(indent, 0)
        return None if text[content:last] == REDACTED else Span(content, last)
    value_start, content_end = pair[1].value_start, pair[1].content_end
    if value_start < content_end:
        return None if text[value_start:last] == REDACTED else Span(value_start, last)
    return Span(content_end, last, " " + REDACTED) if last > content_end else None


def _previous_line(text: str, line_start: int) -> tuple[int, int]:
    end = max(line_start - 1, 0)
    return text.rfind("\n", 0, end) + 1, end


def env_value_spans(text: str) -> Iterator[Span]:
    """``value`` of every ``name`` / ``value`` mapping whose name is secret (env vars,
    headers, parameters); ``valueFrom`` references are left alone."""
    budget = Budget()
    for match in _ENV_VALUE.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        prefix = text[line_start : match.start()]
        if prefix.lstrip(" ") not in ("", "- "):
            continue
        col = len(prefix)
        dashed = prefix.endswith("- ")
        above = None if dashed else _NAME_ABOVE.fullmatch(text, *_previous_line(text, line_start))
        if above is not None and len(above[1]) == col - 2:
            name: str | None = above[2]  # the usual "- name: X" / "  value: Y"
        else:
            found = siblings(
                text, line_start, col, _NAME, dashed=dashed, reach=_ENTRY_KEYS, budget=budget
            )
            name = "SECRET" if found is None else _scalar(text, found.get("name"))
        if name is None or not secret_name(name):
            continue
        end = _line_end(text, line_start)[0]
        span = value_span(text, Entry(line_start, match.end(), end), col)
        if span is not None:
            yield span
