"""Secrets recognised by their shape, in any text: private keys (PEM, and base64 of PEM),
``Authorization`` headers and bearer tokens, vendor credentials by their prefix (provider
API keys, AWS key ids, GitHub, GitLab and Slack tokens, JWTs: ``vendors``), passwords in
URLs, Azure account keys and SAS signatures, and ``key: value`` /
``key=value`` / ``"key": "value"`` / ``--flag value`` pairs whose key is secret
(``names.secret_name``).

Speed: every pattern starts with a literal (``-----BEGIN``, ``eyJ``, ``://``, a keyword), so
the regex engine skips ahead with a fast prefix search; boundary checks that would need a
leading look-behind (which disables that search) are done on the match in Python.
Case-insensitive rules run case-sensitive patterns over the lower-cased text, whose offsets
are the text's. Rules only report spans; the caller splices them. Structure (Secret
``data``, ``name``/``value`` pairs) is not judged here (see ``yamlish`` and ``jsonish``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from typing import Final

from infraagent.redaction.names import placeholder, secret_name
from infraagent.redaction.spans import REDACTED, Span
from infraagent.redaction.vendors import vendor_tokens
from infraagent.redaction.yamlish import Entry, value_span

_PEM_BEGIN: Final = re.compile(r"-----BEGIN ([A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?)-----")
_PEM_TAIL: Final = re.compile(  # the base64 lines of a block whose END line is missing
    r"(?:(?:\r?\n|\\r\\n|\\n| )[ \t]*(?:Proc-Type:[^\r\n\\]*|DEK-Info:[^\r\n\\]*|[A-Za-z0-9+/]+=*)"
    r"(?=[\r\n \\\"',]|$))*"
)
_B64_PEM: Final = re.compile(
    r"LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}(?:\r?\n[A-Za-z0-9+/]+={0,2}(?=\r?\n|$))*"
)
# On the lower-cased text:
_AUTHORIZATION: Final = re.compile(
    r"authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?:bearer|basic|token|digest|negotiate|apikey|sharedaccesssignature|ntlm)[ \t]+)?"
    r"(?P<cred>[^\s\"',;]+)"
)
_BEARER: Final = re.compile(r"bearer[ \t]+(?P<cred>[a-z0-9._~+/-]{8,}=*)")
_AZURE_KEY: Final = re.compile(r"(?:accountkey|sharedaccesskey)=(?P<cred>[^;\s\"'&<>]+)")
_SAS_SIGNATURE: Final = re.compile(r"sig=(?P<cred>[^&\s\"'#<>;]+)")
# On the text as it is:
_URL_PASSWORD: Final = re.compile(r"://[^\s:/?#@\[\]\"'<>]*:(?P<cred>[^\s/@\"'<>]+)@")
_ALREADY: Final = (REDACTED, REDACTED.lower())
_TOKEN_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

# every secret name (``names.secret_name``) holds one of these, except names that are only
# PRIVATE or CONNECTION STRING, which are judged as env names and in JSON data, not in text
_KEYWORDS: Final = (
    "pass", "pwd", "secret", "token", "key", "cred", "auth", "dsn", "cookie", "signature",
)  # fmt: skip
# keys that name a secret rather than hold one, rejected before any Python runs
_NOT_REFERENCE: Final = "".join(
    f"(?<!{word})" for word in ("name", "ref", "refs", "file", "path", "seconds", "tokens", "type")
)
_SEPARATOR: Final = (
    r"(?P<quote>[\"']?)"
    r"(?P<sep>[ \t]*=[ \t]*|:[ \t]+|(?<=[\"']):)"  # compact JSON: "key":"value"
    r"(?![\"']?(?:true|false|null)[\"']?[ \t]*[,}]?[ \t]*\r?$)"  # a boolean is not a secret
)
_PAIRS: Final = tuple(
    (
        keyword,
        re.compile(
            re.escape(keyword)
            # bare "key" is the reference inside secretKeyRef and tolerations: not a secret
            + ("(?<=[a-z0-9_.-]key)" if keyword == "key" else "")
            + r"[a-z0-9_.-]*"
            + _NOT_REFERENCE
            + _SEPARATOR,
            re.M,
        ),
    )
    for keyword in _KEYWORDS
)
_WEAK_KEYS: Final = frozenset({"auth", "authorization", "cookie"})
_FLAG: Final = re.compile(r"--(?P<name>[a-z0-9][a-z0-9_.-]*)[ \t]+(?=[^\s-])")
_KEY_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
_DOUBLE_QUOTED: Final = re.compile(r'"([^"\\\n]*+(?:\\.[^"\\\n]*+)*+)"')
_SINGLE_QUOTED: Final = re.compile(r"'((?:[^'\n]|'')*)'")
_AFTER_EQUALS: Final = re.compile(r"[^\s\"',;&]+")
_AFTER_JSON_COLON: Final = re.compile(r"[^\s,}\]]+")
_IN_FLOW: Final = re.compile(r"[^,}\]\r\n]*[^,}\]\s]")

Rule = Callable[[str, str], Iterator[Span]]


def _spans(pattern: re.Pattern[str], text: str, group: int | str = 0) -> Iterator[Span]:
    """Spans of ``group`` of every match that is not already ``[REDACTED]``."""
    for match in pattern.finditer(text):
        if match[group] not in _ALREADY:
            yield Span(match.start(group), match.end(group))


def private_keys(text: str, lower: str) -> Iterator[Span]:
    """PEM private key blocks, whole (an unterminated block up to its last base64 line),
    and base64-encoded PEM private keys (certificates stay)."""
    if "PRIVATE KEY" in text:
        yield from _pem_blocks(text)
    for match in _B64_PEM.finditer(text):
        head = match[0][:80]
        try:
            decoded = base64.b64decode(head[: len(head) // 4 * 4])
        except (binascii.Error, ValueError):
            decoded = b"PRIVATE KEY"
        if b"PRIVATE KEY" in decoded:
            yield Span(match.start(), match.end())


def _pem_blocks(text: str) -> Iterator[Span]:
    covered = 0
    unterminated: set[str] = set()  # no END after some BEGIN: none after any later one
    for begin in _PEM_BEGIN.finditer(text):
        if begin.start() < covered:
            continue
        marker = f"-----END {begin[1]}-----"
        end = -1 if begin[1] in unterminated else text.find(marker, begin.end())
        if end < 0:
            unterminated.add(begin[1])
            covered = _PEM_TAIL.match(text, begin.end()).end()  # type: ignore[union-attr]
        else:
            covered = end + len(marker)
        yield Span(begin.start(), covered)


def authorization(text: str, lower: str) -> Iterator[Span]:
    """The credential of ``Authorization`` headers and of ``bearer <token>`` anywhere (a
    token of at least 20 characters or with a digit, so prose such as "bearer tokens" stays)."""
    for match in _AUTHORIZATION.finditer(lower):
        cred = text[match.start("cred") : match.end("cred")]
        if cred[0] not in "{[<" and not placeholder(cred):
            yield Span(match.start("cred"), match.end("cred"))
    for match in _BEARER.finditer(lower):
        if match.start() and lower[match.start() - 1] in _TOKEN_CHARS:
            continue
        cred = match["cred"]
        if len(cred) >= 20 or any(char.isdigit() for char in cred):
            yield Span(match.start("cred"), match.end("cred"))


def url_credentials(text: str, lower: str) -> Iterator[Span]:
    """Passwords in URLs (the user name stays), Azure account keys and SAS signatures."""
    if "@" in text:
        yield from _spans(_URL_PASSWORD, text, "cred")
    if "accountkey=" in lower or "sharedaccesskey=" in lower:
        yield from _spans(_AZURE_KEY, lower, "cred")
    for match in _SAS_SIGNATURE.finditer(lower):
        if match.start() and lower[match.start() - 1] in "?&;" and match["cred"] not in _ALREADY:
            yield Span(match.start("cred"), match.end("cred"))


def secret_pairs(text: str, lower: str) -> Iterator[Span]:
    """Values of ``key: value``, ``key=value``, ``"key": "value"`` and ``--key value``
    whose key is secret."""
    seen: set[int] = set()
    for keyword, pattern in _PAIRS:
        if keyword not in lower:
            continue
        for match in pattern.finditer(lower):
            start = match.start()
            while start and lower[start - 1] in _KEY_CHARS:
                start -= 1
            if start in seen or _sentence(lower, start, match):
                continue
            seen.add(start)
            if secret_name(text[start : match.start("quote")].lstrip("-")):
                span = _pair(text, match, start)
                if span is not None:
                    yield span
    for match in _FLAG.finditer(lower):
        if secret_name(match["name"]) and (
            match.start() == 0 or lower[match.start() - 1] in " \t\"'["
        ):
            span = _value(text, match.end(), equals=True, quoted=False, key_col=0)
            if span is not None:
                yield span


def _sentence(lower: str, start: int, match: re.Match[str]) -> bool:
    """``auth: user alice logged in``: a one-word weak key, unquoted, followed by words."""
    if (
        match["quote"]
        or "=" in match["sep"]
        or lower[start : match.start("quote")] not in _WEAK_KEYS
    ):
        return False
    newline = lower.find("\n", match.end())
    return " " in lower[match.end() : newline if newline >= 0 else len(lower)].strip()


def _pair(text: str, match: re.Match[str], start: int) -> Span | None:
    quote = match["quote"]
    quoted = bool(quote) and start > 0 and text[start - 1] == quote
    line_start = text.rfind("\n", 0, start) + 1
    key_col = start - line_start - (1 if quoted else 0)
    flow = "{" in text[line_start:start]  # {user: u, password: p}: the value ends at , or }
    equals = "=" in match["sep"]
    return _value(text, match.end(), equals=equals, quoted=quoted, key_col=key_col, flow=flow)


def _rest_of_line(text: str, position: int) -> int:
    newline = text.find("\n", position)
    end = len(text) if newline < 0 else newline
    while end > position and text[end - 1] in " \t\r":
        end -= 1
    return end


def _value(
    text: str, position: int, *, equals: bool, quoted: bool, key_col: int, flow: bool = False
) -> Span | None:
    """The span of the value starting at ``position``, or None when it reveals nothing."""
    if position >= len(text):
        return None
    first = text[position]
    if first in "\"'":
        found = (_DOUBLE_QUOTED if first == '"' else _SINGLE_QUOTED).match(text, position)
        if found is None:
            return None
        start, end = found.span(1)
    elif first in "{[*&\r\n":
        return None  # structure, an alias, or a value on the next lines (nested keys)
    elif not equals and first in "|>":
        newline = text.find("\n", position)
        line_end = len(text) if newline < 0 else newline
        content_end = line_end - 1 if text[line_end - 1 : line_end] == "\r" else line_end
        return value_span(text, Entry(0, position, content_end), key_col)
    elif equals or quoted or flow:
        pattern = _AFTER_EQUALS if equals else _AFTER_JSON_COLON if quoted else _IN_FLOW
        found = pattern.match(text, position)
        if found is None:
            return None
        start, end = found.span()
    else:
        start, end = position, _rest_of_line(text, position)
    if placeholder(text[start:end]):
        return None
    return Span(start, end)


RULES: Final[tuple[Rule, ...]] = (
    private_keys,
    authorization,
    vendor_tokens,
    url_credentials,
    secret_pairs,
)
