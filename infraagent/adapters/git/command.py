"""``GitRunner``: runs ``git`` (through gitpython) for one remote, safely and countably.

Every command takes an argv list, a timeout, the C locale and the credential environment of
``auth.git_env``; a failure becomes a typed ``GitError`` (``failures.classify``) chained from
gitpython's error. Commands that talk to the remote are counted by kind (``ls-remote``,
``clone``, ``fetch``, ``push``) in ``remote_operations``, so callers and tests can see what a
poll cost.

Deliberately not here: what to run (``fleet`` and ``runs`` decide).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from git.cmd import Git
from git.exc import GitCommandError

from infraagent.adapters.git.auth import (
    GitCredentials,
    git_env,
    safe_url,
    secrets_of,
    split_url_credentials,
)
from infraagent.adapters.git.failures import classify, scrub
from infraagent.errors import GitError

log = logging.getLogger(__name__)
_MOVED = (
    "non-fast-forward",
    "fetch first",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "incorrect old value",
    "stale info",
)
_STDERR_PREFIX = re.compile(r"^\s*stderr: '(.*)'\s*$", re.DOTALL)


def _raw_stderr(exc: GitCommandError) -> str:
    text = str(exc.stderr or "")
    match = _STDERR_PREFIX.match(text)
    stderr = match.group(1) if match else text
    if not stderr.strip() and exc.status not in (None, 0):
        stderr = str(exc.status)
    return stderr


def parse_ls_remote(out: str) -> dict[str, str]:
    """``git ls-remote`` output as ref name → commit id."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        commit, _, name = line.partition("\t")
        if name:
            found[name.strip()] = commit.strip()
    return found


class GitRunner:
    """Runs git for one remote URL with its credentials.

    ``url`` is kept without user-info (a password in an http(s) URL becomes the token).
    ``timeout`` bounds every command, in seconds; a command that overruns is killed.
    """

    def __init__(
        self, url: str, credentials: GitCredentials | None = None, *, timeout: float = 120.0
    ) -> None:
        self.url, self._credentials = split_url_credentials(url, credentials)
        self.display_url = safe_url(self.url)
        self.timeout = timeout
        self.remote_operations: Counter[str] = Counter()
        self._secrets = secrets_of(self._credentials)

    def remote(self, operation: str, args: list[str], cwd: Path) -> str:
        """Runs ``git <args>`` that talks to the remote, counted as ``operation``."""
        self.remote_operations[operation] += 1
        log.debug("git %s %s", operation, self.display_url)
        with git_env(self.url, self._credentials) as env:
            return self._run(operation, args, cwd, env)

    def push(self, args: list[str], cwd: Path) -> bool:
        """Runs ``git push <args>``: True when pushed, False when the remote refused it
        because the branch moved (non-fast-forward, or a ref update lost a race). Every
        other failure raises."""
        try:
            self.remote("push", ["push", *args], cwd)
        except GitError as exc:
            cause = exc.__cause__
            stderr = _raw_stderr(cause) if isinstance(cause, GitCommandError) else ""
            if any(marker in stderr.lower() for marker in _MOVED):
                return False
            raise
        return True

    def local(
        self,
        args: list[str],
        cwd: Path,
        env: Mapping[str, str] | None = None,
        stdin: BinaryIO | None = None,
    ) -> str:
        """Runs a local ``git <args>`` (no network, not counted)."""
        base = {"GIT_TERMINAL_PROMPT": "0"}
        operation = next((a for a in args if not a.startswith("-")), "git")
        return self._run(operation, args, cwd, {**base, **(env or {})}, stdin)

    def _run(
        self,
        operation: str,
        args: list[str],
        cwd: Path,
        env: Mapping[str, str],
        stdin: BinaryIO | None = None,
    ) -> str:
        try:
            out = Git(str(cwd)).execute(
                ["git", *args],
                env=env,
                istream=stdin,
                kill_after_timeout=self.timeout,
                strip_newline_in_stdout=False,
            )
        except GitCommandError as exc:
            raise classify(operation, self.url, _raw_stderr(exc), self._secrets) from exc
        except OSError as exc:
            message = scrub(f"git {operation} {self.display_url} failed: {exc}", self._secrets)
            raise GitError(message) from exc
        return str(out)
