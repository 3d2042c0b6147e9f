"""Redaction: every secret in tool output, audit records, logs, commits and PR bodies
becomes ``[REDACTED]`` before it leaves the process (architecture §5, issue 4 item 6).

``Redactor.redact`` works on text and keeps everything that is not a secret byte for byte:

1. JSON structure (``jsonish``): Secret ``data`` / ``stringData`` values in JSON text, and
   JSON documents escaped inside JSON strings (redacted recursively, then re-encoded).
2. Shapes and structure, all found on the same input and spliced in one pass: YAML Secret
   ``data`` / ``stringData`` blocks and secret ``name``/``value`` pairs (``yamlish``), the
   same pairs in JSON (``jsonish``), and the shapes of ``patterns``: PEM private keys,
   ``Authorization`` / bearer tokens, vendor credentials by prefix and shape, with no name
   needed in front (``vendors``: LLM provider keys such as ``sk-ant-…`` / ``sk-proj-…``,
   AWS key ids, GitHub / GitLab / Slack tokens, JWTs, ...), URL passwords, Azure keys and
   SAS signatures, values under secret keys (``names``).
3. The exact values the environment binds, in every spelling (``known``), last, so no
   earlier step can reveal or re-create one.

``Redactor.redact_json`` does the same for JSON-like data, judging structure directly
(``structured``) and sending every string through ``redact``.

Deliberately not redacted: a ConfigMap's ``data`` and ``binaryData`` as a whole (they are
not meant for secrets and the model needs them; secret pairs, private keys and known values
inside them still are), a ``data`` map with neither ``kind`` nor a Secret ``type`` beside
it (it cannot be told from any other map), references (``secretKeyRef``, ``secretName``,
``*_FILE``), certificates and public keys, image digests, uids, resourceVersions, and a
secret with no recognisable shape and no secret key that is not a known value (a bare
``-o jsonpath='{.data.password}'`` result: the runtime must treat such reads as secret).

The package is pure: no I/O, no clock; standard library and ``infraagent.models`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from infraagent.redaction import jsonish, known, patterns, yamlish
from infraagent.redaction.spans import REDACTED, Span, apply_spans
from infraagent.redaction.structured import redact_value

__all__ = ["MIN_LENGTH", "REDACTED", "Redactor"]

MIN_LENGTH: Final = known.MIN_LENGTH
_SHORT: Final = 256
# A short text holding none of these cannot match any rule, only a known value: keys and
# values of JSON data are mostly such texts. (Every secret name contains one of the words,
# every vendor shape one of the prefixes.)
_TRIGGERS: Final = re.compile(
    r"pass|pwd|secret|token|key|cred|auth|dsn|cookie|signature|private|connection|bearer"
    r"|akia|asia|gh[pousr]_|github_pat_|xox|xapp-|eyj|://|ls0tls1crudjti|sig=|data"
    r"|hooks\.slack|\{\\\""
    r"|sk-(?:ant-|proj-|svcacct-|admin-|none-|or-v1-|[a-z0-9]{32})|gl[a-z]{2,5}-|aiza|hf_"
)


@dataclass(frozen=True)
class Redactor:
    """Replaces secrets by ``[REDACTED]``. ``known_values`` are the exact credential values
    the environment binds (``repr`` never shows them); values shorter than ``MIN_LENGTH``
    characters are not redacted by value."""

    known_values: frozenset[str] = field(default=frozenset(), repr=False)
    _probes: tuple[known.Probe, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_probes", known.probes(self.known_values))

    @classmethod
    def with_values(cls, values: Iterable[str]) -> Redactor:
        """A redactor for ``values``; empty and too short ones are dropped."""
        return cls(frozenset(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH))

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced; everything else unchanged."""
        if not text:
            return text
        if len(text) <= _SHORT and not _TRIGGERS.search(text.lower()):
            return known.replace_known(text, self._probes)
        text = self._json_structure(text)
        lower = text.lower()
        if len(lower) != len(text):  # a few characters lower-case to two: keep the offsets
            lower = "".join(char if len(char.lower()) != 1 else char.lower() for char in text)
        spans: list[Span] = []
        for rule in patterns.RULES:
            spans.extend(rule(text, lower))
        spans.extend(yamlish.secret_data_spans(text))
        spans.extend(yamlish.env_value_spans(text))
        if '"value"' in text:
            spans.extend(jsonish.env_value_spans(text))
        return known.replace_known(apply_spans(text, spans), self._probes)

    def _json_structure(self, text: str) -> str:
        spans: list[Span] = []
        if '{\\"' in text:
            spans.extend(jsonish.escaped_document_spans(text, self.redact))
        if 'ata"' in text and ('"data"' in text or '"stringData"' in text):
            spans.extend(jsonish.secret_data_spans(text))
        return apply_spans(text, spans)

    def redact_json(self, value: Any) -> Any:
        """A redacted copy of JSON-like ``value`` (dicts, lists, strings, numbers)."""
        return redact_value(value, self.redact)
