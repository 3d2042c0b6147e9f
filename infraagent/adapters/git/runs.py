"""``GitRunsPublisher``: the ``ports.RunsPublisher`` that commits run summaries to a branch.

One ``publish`` call is at most one commit on the runs branch (default ``infraagent/runs``)
of the fleet repository, pushed without force:

1. ask the remote for the branch tip (``ls-remote``) and fetch it (depth 1) when it is not
   already here; a branch missing on the remote starts as an orphan holding only the files;
2. compare each file's blob id with the tip's (one ``cat-file --batch-check``); when every
   file is already there with the same content there is no commit and ``publish`` returns
   None; otherwise ``git fast-import`` builds the commit (tip's tree plus the changed files)
   in a private bare clone;
3. push ``<commit>:refs/heads/<branch>``; when the remote refuses because the branch moved
   (someone else pushed), start again from 1 on the new tip, re-applying the files, at most
   ``max_attempts`` times, then raise ``errors.GitPushRejected``.

Only that one branch is ever fetched or pushed; other branches are never touched. Calls on
one object are serialized by a lock.

Deliberately not here: writing the summaries (the caller renders them and names the runs in
``Infraagent-Run:`` trailers of ``message``) and redaction (done before text reaches here).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.git.command import GitRunner, parse_ls_remote
from infraagent.adapters.git.fleet import is_commit_id
from infraagent.errors import GitError, GitPushRejected

log = logging.getLogger(__name__)

DEFAULT_BRANCH = "infraagent/runs"
DEFAULT_AUTHOR = ("InfraAgent", "infraagent@users.noreply.infraagent.io")
_STAGING = "refs/infraagent/staging"


def blob_id(text: str, algorithm: str = "sha1") -> str:
    """The Git object id ``text`` (UTF-8) has as a blob."""
    data = text.encode("utf-8")
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).hexdigest()


def checked_path(path: str) -> str:
    """``path`` if it is a plain repository-relative file path, else a ``GitError``."""
    pure = PurePosixPath(path)
    parts = pure.parts
    bad = (
        not parts
        or pure.is_absolute()
        or "\\" in path
        or any(char in path for char in "\0\n\r")
        or any(p in (".", "..") or p.lower() == ".git" for p in parts)
        or pure.as_posix() != path
    )
    if bad:
        raise GitError(f"refusing to publish {path!r}: not a plain repository-relative path")
    return path


class GitRunsPublisher:
    """Publishes files to ``branch`` of the repository at ``url`` (same URL forms and
    credentials as ``GitFleetRepository``), working in a private clone under ``workdir``."""

    def __init__(
        self,
        url: str,
        *,
        workdir: Path | str,
        branch: str = DEFAULT_BRANCH,
        credentials: GitCredentials | None = None,
        author: tuple[str, str] = DEFAULT_AUTHOR,
        max_attempts: int = 5,
        timeout: float = 120.0,
    ) -> None:
        if not branch or branch.startswith(("-", "refs/")) or ".." in branch:
            raise ValueError(f"not a usable branch name: {branch!r}")
        if any(char in "".join(author) for char in "<>\n") or not all(author):
            raise ValueError(f"not a usable commit author: {author!r}")
        self.branch = branch
        self.workdir = Path(workdir)
        self.max_attempts = max_attempts
        self._author = author
        self._git = GitRunner(url, credentials, timeout=timeout)
        self._repo = self.workdir / "repo"
        self._ref = f"refs/heads/{branch}"
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The remote URL without user-info (safe to show)."""
        return self._git.display_url

    @property
    def remote_operations(self) -> dict[str, int]:
        """Remote round trips so far by kind (``ls-remote``, ``fetch``, ``push``)."""
        return dict(self._git.remote_operations)

    def publish(self, files: Mapping[str, str], message: str) -> str | None:
        """Commits ``files`` (path → text) in one commit on the branch tip and pushes it;
        returns the commit id, or None when every file was already there unchanged."""
        wanted = {checked_path(path): text for path, text in files.items()}
        if not wanted:
            return None
        with self._lock:
            return self._publish(wanted, message)

    def _publish(self, wanted: Mapping[str, str], message: str) -> str | None:
        self._ensure_repo()
        for attempt in range(1, self.max_attempts + 1):
            tip = self._fetch_tip()
            commit = self._commit(tip, wanted, message)
            if commit is None:
                return None
            if self._git.push(["--no-verify", "origin", f"{commit}:{self._ref}"], self._repo):
                log.info("published %d file(s) to %s %s", len(wanted), self.url, self.branch)
                return commit
            log.info("push to %s %s refused (branch moved), attempt %d", self.url,
                     self.branch, attempt)  # fmt: skip
        raise GitPushRejected(
            f"git push {self.url} {self.branch} failed: the branch kept moving "
            f"({self.max_attempts} attempts)"
        )

    def _ensure_repo(self) -> None:
        if (self._repo / "HEAD").is_file():
            try:
                url = self._git.local(["config", "--get", "remote.origin.url"], self._repo)
            except GitError:
                url = ""
            if url.strip() == self._git.url:
                return
        shutil.rmtree(self._repo, ignore_errors=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._git.local(["init", "--bare", "--quiet", str(self._repo)], self.workdir)
        self._git.local(["remote", "add", "origin", self._git.url], self._repo)

    def _fetch_tip(self) -> str | None:
        """The branch tip on the remote (fetched here), or None when the branch is missing."""
        out = self._git.remote(
            "ls-remote", ["ls-remote", "--", self._git.url, self._ref], self._repo
        )
        tip = parse_ls_remote(out).get(self._ref)
        if tip is None or not is_commit_id(tip):
            return None
        if not self._has_commit(tip):
            tracking = f"+{self._ref}:refs/remotes/origin/{self.branch}"
            args = ["fetch", "--depth", "1", "--no-tags", "--no-write-fetch-head", "origin"]
            self._git.remote("fetch", [*args, tracking], self._repo)
        if not self._has_commit(tip):
            self._git.remote("fetch", ["fetch", "--depth", "1", "origin", tip], self._repo)
        return tip

    def _has_commit(self, commit: str) -> bool:
        try:
            self._git.local(["cat-file", "-e", f"{commit}^{{commit}}"], self._repo)
        except GitError:
            return False
        return True

    def _changed(self, tip: str | None, files: Mapping[str, str]) -> dict[str, str]:
        """The files whose content differs from ``tip``'s (all of them without a tip)."""
        if tip is None:
            return dict(files)
        algorithm = "sha256" if len(tip) == 64 else "sha1"
        query = "".join(f"{tip}:{path}\n" for path in files).encode()
        out = self._with_input(["cat-file", "--batch-check"], query, {})
        present = [line.split(" ")[0] for line in out.splitlines()]
        return {
            path: text
            for (path, text), existing in zip(files.items(), present, strict=True)
            if blob_id(text, algorithm) != existing
        }

    def _commit(self, tip: str | None, files: Mapping[str, str], message: str) -> str | None:
        """A commit of ``files`` on ``tip`` (an orphan when None), or None if nothing changes.

        One ``git fast-import`` writes the blobs, trees and commit as a single pack (loose
        objects cost a file each) onto a private staging ref, never a branch."""
        changed = self._changed(tip, files)
        if not changed:
            return None
        name, email = self._author
        encoded = message.encode("utf-8")
        stream = [
            f"reset {_STAGING}\ncommit {_STAGING}\n".encode(),
            f"author {name} <{email}> now\ncommitter {name} <{email}> now\n".encode(),
            b"data %d\n%s\n" % (len(encoded), encoded),
            f"from {tip}\n".encode() if tip else b"",
        ]
        for path, text in changed.items():
            data = text.encode("utf-8")
            quoted = '"' + path.replace('"', '\\"') + '"'
            stream.append(f"M 100644 inline {quoted}\n".encode())
            stream.append(b"data %d\n%s\n" % (len(data), data))
        args = ["fast-import", "--quiet", "--force", "--date-format=now"]
        self._with_input(args, b"".join(stream), {})
        return self._git.local(["rev-parse", "--verify", _STAGING], self._repo).strip()

    def _with_input(self, args: list[str], data: bytes, env: Mapping[str, str]) -> str:
        """A local git command reading ``data`` on stdin (through an unlinked temp file)."""
        with tempfile.TemporaryFile(dir=self.workdir) as stdin:
            stdin.write(data)
            stdin.seek(0)
            return self._git.local(args, self._repo, env, stdin)
