"""Base URLs: what each SDK must be given so requests land on the right path.

The Anthropic SDK appends ``/v1/messages`` to its base URL; the OpenAI SDK appends
``/chat/completions``. ``anthropic_base_url`` therefore drops a trailing ``/v1`` and
``openai_base_url`` makes sure there is exactly one version segment: ``http://host:11434``,
``http://host:11434/`` and ``http://host:11434/v1/`` all become ``http://host:11434/v1``.
A path that already names a version anywhere (``/api/paas/v4``, ``/v1beta/openai``) is
kept as given, so providers with their own layout still work. A query string or fragment
is refused rather than silently dropped.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

ANTHROPIC_DEFAULT = "https://api.anthropic.com"
OPENAI_DEFAULT = "https://api.openai.com/v1"

_VERSION_SEGMENT = re.compile(r"^v\d+[a-z0-9]*$")


def anthropic_base_url(endpoint: str | None) -> str:
    """The Anthropic SDK's base URL for ``endpoint`` (None: the public API)."""
    if not endpoint:
        return ANTHROPIC_DEFAULT
    scheme, netloc, path = _split(endpoint)
    while path.endswith("/v1"):
        path = path[: -len("/v1")].rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def openai_base_url(endpoint: str | None) -> str:
    """The OpenAI SDK's base URL for ``endpoint`` (None: the public API)."""
    if not endpoint:
        return OPENAI_DEFAULT
    scheme, netloc, path = _split(endpoint)
    while path.endswith("/v1/v1"):
        path = path[: -len("/v1")]
    segments = [s for s in path.split("/") if s]
    if not any(_VERSION_SEGMENT.match(s) for s in segments):
        path = f"{path}/v1"
    return urlunsplit((scheme, netloc, path, "", ""))


def _split(endpoint: str) -> tuple[str, str, str]:
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint must be an http(s) URL with a host, got {endpoint!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint must be a base URL without query or fragment, got {endpoint!r}")
    return parts.scheme, parts.netloc, re.sub(r"/+", "/", parts.path).rstrip("/")
