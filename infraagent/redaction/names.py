"""Which keys and names hold secrets, and which values plainly are not secrets.

``secret_name`` classifies a key, header, flag or environment-variable name by its words
(``DB_PASSWORD``, ``clientSecret``, ``x-api-key``, ``--token``): a word that is or ends in
PASSWORD, PASSWD, SECRET, TOKEN, CREDENTIAL, PASSPHRASE or API/ACCESS/SECRET/PRIVATE/ACCOUNT
KEY; a word that is AUTH, AUTHORIZATION, COOKIE, DSN or CREDS; KEY, PWD, PASS, PRIVATE or
SIGNATURE next to another word; CONNECTION STRING. Not secrets: names whose last word says
the value only points at a secret or configures one (``secretName``, ``secretKeyRef``,
``TOKEN_FILE``, ``tokenExpirationSeconds``), bare ``key`` (the reference inside
``secretKeyRef``), ``PWD`` (the shell's working directory), plural ``tokens`` (token
counts) and ``publicKey``. ``placeholder`` recognises values that reveal nothing (``true``,
``<none>``, ``8 bytes``, ``$(VAR)``, ``[REDACTED]``). No text is scanned here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from infraagent.redaction.spans import REDACTED

_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")
_STRONG_SUFFIXES: Final = (
    "PASSWORD",
    "PASSWORDS",
    "PASSWD",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "CREDENTIAL",
    "CREDENTIALS",
    "PASSPHRASE",
    "APIKEY",
    "ACCESSKEY",
    "SECRETKEY",
    "PRIVATEKEY",
    "ACCOUNTKEY",
)
_WORDS_ANYWHERE: Final = frozenset({"AUTH", "AUTHORIZATION", "COOKIE", "DSN", "CREDS"})
_WORDS_WITH_OTHERS: Final = frozenset({"KEY", "KEYS", "PWD", "PASS", "SIGNATURE", "PRIVATE"})
_REFERENCE_LAST: Final = frozenset(
    {
        "NAME", "NAMES", "REF", "REFS", "FILE", "FILES", "PATH", "PATHS", "DIR", "TYPE",
        "KIND", "LENGTH", "LEN", "TTL", "EXPIRY", "EXPIRATION", "EXPIRES", "SECONDS", "URL",
        "URI", "ENDPOINT", "ISSUER", "HEADER", "FIELD", "MODE", "ENABLED", "PREFIX", "FORMAT",
        "ALGORITHM", "SIZE", "VERSION", "POLICY", "TIMEOUT", "INTERVAL", "PROVIDER", "SOURCE",
        "SELECTOR", "MOUNT", "VOLUME", "HASH", "ROTATION",
    }
)  # fmt: skip
_PLACEHOLDERS: Final = frozenset(
    {"", REDACTED.lower(), "true", "false", "null", "~", "none", "nil"}
)
_PLACEHOLDER_FORMS: Final = re.compile(
    r"<[^<>\n]*>|[0-9]+ bytes|\$\([A-Za-z_][A-Za-z0-9_]*\)|\$\{[A-Za-z_][A-Za-z0-9_.:-]*\}"
    r"|\*+|\{\{[^{}]*\}\}"
)
_PLACEHOLDER_STARTS: Final = frozenset("<0123456789$*{")
_DESCRIBED: Final = re.compile(r"<(?:none|unset|set to the key [^<>\n]*|nil)>(?:  |$)")


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a value under ``name`` is a credential."""
    words = [word.upper() for word in _WORDS.findall(name)]
    if not words or words[-1] in _REFERENCE_LAST:
        return False
    if len(words) == 1:
        word = words[0]
        return word in _WORDS_ANYWHERE or word.endswith(_STRONG_SUFFIXES)
    for index, word in enumerate(words):
        if word in _WORDS_ANYWHERE or word.endswith(_STRONG_SUFFIXES):
            return True
        if word in _WORDS_WITH_OTHERS and not (index and words[index - 1] == "PUBLIC"):
            return True
        if word == "CONNECTION" and words[index + 1 : index + 2] == ["STRING"]:
            return True
    return False


def placeholder(value: str) -> bool:
    """Whether ``value`` reveals nothing: empty, a boolean, a describe placeholder such as
    ``<none>`` or ``8 bytes``, a variable reference, a mask, or already ``[REDACTED]``."""
    stripped = value.strip().strip("\"'")
    if len(stripped) <= 10 and stripped.lower() in _PLACEHOLDERS:
        return True
    if not stripped or stripped[0] not in _PLACEHOLDER_STARTS:
        return False
    return bool(_PLACEHOLDER_FORMS.fullmatch(stripped) or _DESCRIBED.match(stripped))


_SECRET_TYPE_PREFIXES: Final = ("kubernetes.io/", "bootstrap.kubernetes.io/", "helm.sh/release")


def secret_type(value: object) -> bool:
    """Whether ``value`` is the ``type`` of a Kubernetes Secret (``Opaque``, the built-in
    ``kubernetes.io/…`` types, bootstrap tokens, Helm releases)."""
    return isinstance(value, str) and (value == "Opaque" or value.startswith(_SECRET_TYPE_PREFIXES))
