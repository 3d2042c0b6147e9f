"""Find SQL that changes or destroys data in text an HTTP request carries.

``sql_mutation`` answers the first mutating statement keyword in a text (``DROP``,
``TRUNCATE``, ``DELETE``, ``UPDATE``, ``ALTER``, ``INSERT``, and the ``REPLACE`` /
``MERGE`` / ``UPSERT`` forms of INSERT), or None. It requires SQL *shape*, not a bare word:
``DELETE FROM``, ``DROP TABLE``, ``UPDATE t SET c =``, ``INSERT INTO``, ``TRUNCATE t;`` …,
so ordinary JSON such as ``{"status": "deleted"}`` or "update the set of pods" is not
SQL. Comments count as spaces (``DROP/**/TABLE``, ``DROP -- x\\nTABLE``), MySQL executable
comments are read as code (``/*!50000DROP*/ TABLE``), and keywords match in any case.

``sql_in_http`` looks where a data API hides SQL: the body as sent, the string values
(and keys) of a JSON body with its escapes decoded, a form-encoded body and the query
string after percent-decoding (a JSON body is read as its strings, each apart, so words
of different values never join into a statement). Keyword positions are found with
``str.find``; each pattern, compiled once, is then tried only there, with atomic
separators and bounded identifiers, so the work grows with the text, not its square.
This module does not decide what a match means; ``http_rules`` does.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, Final
from urllib.parse import unquote_plus

_S: Final = r"(?>(?:\s|--[^\n\x00]*+|#[^\n\x00]*+)+)"  # spaces and line comments
_W: Final = r"\s*+"
_IDENT: Final = r"""(?>"[^"\n]{1,128}"|`[^`\n]{1,128}`|\[[^\]\n]{1,128}\]|[a-z_][\w$]{0,127})"""
_QIDENT: Final = rf"{_IDENT}(?:{_W}\.{_W}{_IDENT}){{0,3}}+"
_IDENTS: Final = rf"{_QIDENT}(?:{_W},{_W}{_QIDENT}){{0,15}}+"
_OBJECTS: Final = (
    "TABLE|DATABASE|SCHEMA|INDEX|VIEW|MATERIALIZED|SEQUENCE|FUNCTION|PROCEDURE|TRIGGER|"
    "USER|ROLE|KEYSPACE|TABLESPACE|EXTENSION|TYPE|DOMAIN|OWNED|PUBLICATION|SUBSCRIPTION|"
    "COLUMN|CONSTRAINT|PARTITION|COLLECTION|TEMPORARY|FOREIGN|COLUMNFAMILY|MEASUREMENT|"
    "SERIES|RETENTION|SHARD|GRAPH"
)
_ALTERABLE: Final = rf"{_OBJECTS}|SYSTEM|DEFAULT{_S}PRIVILEGES|LARGE{_S}OBJECT|ONLINE|IGNORE"
_JOINS: Final = "WHERE|USING|JOIN|INNER|LEFT|RIGHT|CROSS|NATURAL|STRAIGHT_JOIN"
_INSERT_MODS: Final = (
    rf"LOW_PRIORITY|DELAYED|HIGH_PRIORITY|IGNORE|OR{_S}(?:REPLACE|IGNORE|ABORT|FAIL|ROLLBACK)"
)
_END: Final = rf"""(?={_W}(?:[;,)"'\\\x00]|$))"""

_PATTERNS: Final = {
    "DROP": rf"\bDROP{_S}(?:{_OBJECTS})\b",
    "TRUNCATE": (
        rf"\bTRUNCATE{_S}(?:TABLE\b|ONLY\b|{_QIDENT}{_END}"
        rf"|{_QIDENT}{_S}(?:CASCADE|RESTRICT|RESTART|CONTINUE)\b)"
    ),
    "DELETE": (
        rf"\bDELETE{_S}(?:(?:LOW_PRIORITY|QUICK|IGNORE){_S})*+FROM\b"
        rf"|\bDELETE{_S}{_IDENTS}{_S}FROM{_S}{_QIDENT}(?:{_S}(?:AS{_S})?{_IDENT})?{_S}(?:{_JOINS})\b"
        rf"|\bDETACH{_S}DELETE\b"
    ),
    "UPDATE": (
        rf"\bUPDATE{_S}(?:(?:ONLY|LOW_PRIORITY|IGNORE|OR{_S}\w+){_S})*+{_IDENTS}"
        rf"(?:{_S}(?:AS{_S})?{_IDENT})?{_S}SET(?:{_W}\(|{_S}{_QIDENT}{_W}=)"
        rf"|\bUPDATE{_S}{_QIDENT}{_S}(?:(?:INNER|LEFT|RIGHT|CROSS|STRAIGHT_JOIN){_S})?JOIN\b"
        rf"[^;\x00]{{0,300}}?\bSET{_S}{_QIDENT}{_W}="
    ),
    "ALTER": rf"\bALTER{_S}(?:{_ALTERABLE})\b",
    "INSERT": rf"\bINSERT{_S}(?:(?:{_INSERT_MODS}){_S})*+INTO\b|\bINSERT{_S}(?:OVERWRITE|DATA)\b",
    "REPLACE": rf"\bREPLACE{_S}(?:(?:LOW_PRIORITY|DELAYED){_S})?INTO\b",
    "MERGE": rf"\bMERGE{_S}INTO\b",
    "UPSERT": rf"\bUPSERT{_S}INTO\b",
}
_COMPILED: Final = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in _PATTERNS.items()}
_STARTS: Final = {
    "drop": "DROP", "truncate": "TRUNCATE", "delete": "DELETE", "detach": "DELETE",
    "update": "UPDATE", "alter": "ALTER", "insert": "INSERT", "replace": "REPLACE",
    "merge": "MERGE", "upsert": "UPSERT",
}  # fmt: skip
_KEYWORD: Final = re.compile(rf"\b(?:{'|'.join(_STARTS)})\b", re.IGNORECASE)
_EXECUTABLE_COMMENT: Final = re.compile(r"M?!\d{0,6}")
_UPDATE_REACH: Final = 10_000  # longer than any text the UPDATE patterns can match


def sql_mutation(text: str) -> str | None:
    """The keyword of the first data-changing SQL statement in ``text``, else None."""
    lowered = text.lower()
    if not any(word in lowered for word in _STARTS):
        return None
    if "/*" in text:
        text = _strip_block_comments(text)
        lowered = text.lower()
    next_set = _next_set(lowered)
    for position, word in _keyword_positions(text, lowered):
        name = _STARTS[word]
        if name == "UPDATE" and next_set(position) > position + _UPDATE_REACH:
            continue  # every UPDATE form needs SET within its reach; skip the costly match
        if _COMPILED[name].match(text, position):
            return name
    return None


def _next_set(lowered: str) -> Callable[[int], int]:
    """Where the next "set" at or after a position starts (a large number when none)."""
    starts: list[int] = []
    position = lowered.find("set")
    while position >= 0:
        starts.append(position)
        position = lowered.find("set", position + 3)
    starts.append(len(lowered) + _UPDATE_REACH + 1)
    return lambda at: starts[bisect_left(starts, at)]


def _keyword_positions(text: str, lowered: str) -> list[tuple[int, str]]:
    """Where each statement keyword starts, in order (str.find is far faster than re)."""
    if len(lowered) != len(text):  # a character changed length when lowered
        return [(m.start(), m.group().lower()) for m in _KEYWORD.finditer(text)]
    found: list[tuple[int, str]] = []
    for word in _STARTS:
        position = lowered.find(word)
        while position >= 0:
            found.append((position, word))
            position = lowered.find(word, position + len(word))
    found.sort()
    return found


def sql_in_http(body: str | None, query: str) -> str | None:
    """The first data-changing SQL keyword in a request's body or query string, else None."""
    for text in _texts(body, query):
        found = sql_mutation(text)
        if found:
            return found
    return None


def _texts(body: str | None, query: str) -> Iterator[str]:
    if query:
        yield unquote_plus(query)
    if not body:
        return
    strings = _json_strings(body)
    if strings is None:
        yield body
        if "%" in body or "+" in body:
            yield unquote_plus(body)
    else:
        yield "\x00".join(strings)


def _json_strings(body: str) -> list[str] | None:
    """Every string (keys too) of a JSON body, or None when the body is not JSON."""
    if body.lstrip()[:1] not in ("{", "[", '"'):
        return None
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    strings: list[str] = []
    stack: list[Any] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            strings.extend(str(key) for key in value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return strings


def _strip_block_comments(text: str) -> str:
    """Block comments become a space; MySQL's executable ``/*! … */`` comments become code."""
    if "/*" not in text:
        return text
    out: list[str] = []
    position = 0
    while (start := text.find("/*", position)) >= 0:
        end = text.find("*/", start + 2)
        if end < 0:
            break
        inner = text[start + 2 : end]
        executable = _EXECUTABLE_COMMENT.match(inner)
        out.extend((text[position:start], " ", inner[executable.end() :] if executable else ""))
        out.append(" ")
        position = end + 2
    out.append(text[position:])
    return "".join(out)
