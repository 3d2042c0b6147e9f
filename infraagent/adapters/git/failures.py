"""Turning git's failures into the ``errors.GitError`` tree, with no secret in the text.

``classify`` reads git's (C-locale) stderr and picks ``GitAuthError``, ``GitRefNotFound``,
``GitUnreachable`` or ``GitError``; the message names the operation and the URL without
user-info, plus git's last ``fatal:``/``error:`` line with every secret and user-info scrubbed.

Deliberately not here: retry decisions (the caller's), and running git.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from infraagent.adapters.git.auth import safe_url
from infraagent.errors import GitAuthError, GitError, GitRefNotFound, GitUnreachable

_AUTH = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "permission denied (publickey",
    "permission denied, please try again",
    "returned error: 401",
    "returned error: 403",
    "http 401",
    "http 403",
    "host key verification failed",
    "invalid username or password",
)
_NOT_FOUND = (
    "repository not found",
    "not found",
    "returned error: 404",
    "does not appear to be a git repository",
    "couldn't find remote ref",
    "not our ref",
    "unadvertised object",
    "no such remote ref",
)
_UNREACHABLE = (
    "could not resolve host",
    "could not resolve hostname",
    "name or service not known",
    "temporary failure in name resolution",
    "connection refused",
    "failed to connect",
    "couldn't connect to server",
    "timed out",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "empty reply from server",
    "connection closed by remote host",
)
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced and any URL user-info removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _USERINFO.sub(r"\1", text)


def _detail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith(("fatal:", "error:", "ssh:", "!", "remote:")):
            return line
    return lines[-1] if lines else ""


def error_class(stderr: str) -> type[GitError]:
    """The ``GitError`` subclass git's stderr describes."""
    text = stderr.lower()
    if any(marker in text for marker in _AUTH):
        return GitAuthError
    if any(marker in text for marker in _NOT_FOUND):
        return GitRefNotFound
    if any(marker in text for marker in _UNREACHABLE):
        return GitUnreachable
    return GitError


def classify(operation: str, url: str, stderr: str, secrets: Iterable[str] = ()) -> GitError:
    """The typed error for a failed ``git <operation>`` against ``url``."""
    secrets = tuple(secrets)
    cls = error_class(stderr)
    detail = scrub(_detail(stderr), secrets)
    message = f"git {operation} {safe_url(url)} failed: {cls.reason}"
    if detail:
        message += f" ({detail})"
    return cls(scrub(message, secrets))
