"""Credentials recognised by a vendor's prefix and shape, with no secret-looking name needed
in front of them: LLM provider keys (Anthropic ``sk-ant-…``, OpenAI ``sk-proj-…`` /
``sk-svcacct-…`` / ``sk-admin-…`` / legacy ``sk-…``, OpenRouter ``sk-or-v1-…``, Hugging
Face ``hf_…``), Google API keys (``AIza…``), AWS access key ids (``AKIA…`` / ``ASIA…``),
GitHub (``ghp_`` and the other ``gh?_``, ``github_pat_``), GitLab (``glpat-`` and the other
``gl…-`` token prefixes), Slack tokens (``xox?-``, ``xapp-``) and webhook paths, and JWTs.

A match must stand alone (not glued to a preceding letter, digit, ``_`` or ``-``, so
``task-1`` or ``disk-…`` never start one) and, for the provider keys, its random part must
be long enough and look random (``looks_random``: at least two of upper case, lower case and
digits, and enough distinct characters), so ``sk-learn``, ``sk-proj-example`` or
``glpat-xxxxxxxxxxxxxxxxxxxx`` in prose or documentation stay. Every pattern starts with a
literal, so the regex engine skips ahead quickly on ordinary text; each shape costs one such
scan (about 15 µs on 20 KB), which is why the list stays short.

Deliberately not here: secrets judged by the name in front of them (``patterns``), known
values (``known``), AWS secret access keys without a name (40 characters of plain base64,
indistinguishable from other base64), and vendors an operations agent rarely meets (Stripe,
npm, PyPI, SendGrid, ...): under a secret name or as a known value they are still redacted.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Final

from infraagent.redaction.spans import REDACTED, Span

_TOKEN_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ALREADY: Final = (REDACTED, REDACTED.lower())

# Shapes checked by prefix and charset alone (their formats are specific enough)
_AWS_KEY_ID: Final = re.compile(r"A(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_GITHUB: Final = re.compile(r"g(?:h[pousr]_[A-Za-z0-9]{20,}|ithub_pat_[A-Za-z0-9_]{20,})")
_SLACK: Final = re.compile(r"x(?:ox[abposr]-[A-Za-z0-9-]{10,}|app-[0-9]+-[A-Za-z0-9-]{10,})")
_SLACK_HOOK: Final = re.compile(
    r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<cred>[A-Za-z0-9/_-]+)"
)
_JWT: Final = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?"
)
# Shapes whose random part (group ``body``) must also look random
_SK: Final = re.compile(  # Anthropic, OpenAI (project, service account, admin, legacy), OpenRouter
    r"sk-(?:ant-(?P<ant>[A-Za-z0-9_-]{24,})"
    r"|(?:proj|svcacct|admin|None|or-v1)-(?P<openai>[A-Za-z0-9_-]{20,})"
    r"|(?P<legacy>[A-Za-z0-9]{32,})(?![A-Za-z0-9_-]))"
)
_GITLAB: Final = re.compile(
    r"gl(?:pat|dt|rt|rtr|ptt|ft|cbt|oas|soat|ffct|imt|agent)-"
    r"(?P<body>[A-Za-z0-9_-]{20,}(?:\.[A-Za-z0-9_-]+)*)"
)
_GOOGLE: Final = re.compile(r"AIza(?P<body>[A-Za-z0-9_-]{35})(?![A-Za-z0-9_-])")
_HUGGING_FACE: Final = re.compile(r"hf_(?P<body>[A-Za-z0-9]{30,})")
_MIN_DISTINCT: Final = 10
_MIN_BITS: Final = 3.0


def looks_random(body: str) -> bool:
    """Whether ``body`` looks like generated key material rather than words: at least two of
    upper case, lower case and digits, at least ``_MIN_DISTINCT`` distinct characters, and
    at least ``_MIN_BITS`` bits of entropy per character."""
    classes = (
        any(c.isupper() for c in body)
        + any(c.islower() for c in body)
        + any(c.isdigit() for c in body)
    )
    if classes < 2 or len(set(body)) < _MIN_DISTINCT:
        return False
    counts = Counter(body).values()
    bits = -sum(n / len(body) * math.log2(n / len(body)) for n in counts)
    return bits >= _MIN_BITS


def _alone(text: str, start: int) -> bool:
    return not start or text[start - 1] not in _TOKEN_CHARS


def _spans(pattern: re.Pattern[str], text: str, group: int | str = 0) -> Iterator[Span]:
    for match in pattern.finditer(text):
        if (group != 0 or _alone(text, match.start())) and match[group] not in _ALREADY:
            yield Span(match.start(group), match.end(group))


def _random_shapes(pattern: re.Pattern[str], text: str) -> Iterator[Span]:
    """Whole matches that stand alone and whose one matched body group looks random."""
    for match in pattern.finditer(text):
        body = next((value for value in match.groupdict().values() if value), "")
        if _alone(text, match.start()) and looks_random(body):
            yield Span(match.start(), match.end())


def vendor_tokens(text: str, lower: str) -> Iterator[Span]:
    """Every vendor credential shape of the module docstring found in ``text``."""
    yield from _spans(_AWS_KEY_ID, text)
    yield from _spans(_GITHUB, text)
    yield from _spans(_SLACK, text)
    yield from _spans(_JWT, text)
    if "hooks.slack.com/" in text:
        yield from _spans(_SLACK_HOOK, text, "cred")
    yield from _random_shapes(_SK, text)
    yield from _random_shapes(_GITLAB, text)
    yield from _random_shapes(_GOOGLE, text)
    yield from _random_shapes(_HUGGING_FACE, text)
