"""``GitRunsPublisher``: the ``ports.RunsPublisher`` that commits run summaries to a branch.

One ``publish`` call is at most one commit on the runs branch (default ``infraagent/runs``)
of the fleet repository, pushed without force:

1. ask the remote for the branch tip (``ls-remote``) and fetch it (depth 1) when it is not
   already here; a branch missing on the remote starts as an orphan holding only the files;
2. build the commit with plumbing in a private bare clone: the tip's tree, plus the files
   (blobs written by ``git add`` from a temporary directory, into a temporary index); when
   the tree equals the tip's (every file already there with the same content) there is no
   commit and ``publish`` returns None;
3. push ``<commit>:refs/heads/<branch>``; when the remote refuses because the branch moved
   (someone else pushed), start again from 1 on the new tip, re-applying the files, at most
   ``max_attempts`` times, then raise ``errors.GitPushRejected``.

Only that one branch is ever fetched or pushed; other branches are never touched. Calls on
one object are serialized by a lock.

Deliberately not here: writing the summaries (the caller renders them and names the runs in
``Infraagent-Run:`` trailers of ``message``) and redaction (done before text reaches here).
"""

from __future__ import annotations

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
_LOCAL_CONFIG = ["-c", "core.autocrlf=false", "-c", "core.safecrlf=false"]


def checked_path(path: str) -> str:
    """``path`` if it is a plain repository-relative file path, else a ``GitError``."""
    pure = PurePosixPath(path)
    parts = pure.parts
    bad = (
        not parts
        or pure.is_absolute()
        or "\\" in path
        or "\0" in path
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

    def _commit(self, tip: str | None, files: Mapping[str, str], message: str) -> str | None:
        """A commit of ``files`` on ``tip`` (an orphan when None), or None if nothing changes."""
        with tempfile.TemporaryDirectory(prefix="runs-", dir=self.workdir) as tmp_name:
            tmp = Path(tmp_name)
            tree_dir, index = tmp / "tree", tmp / "index"
            env = {"GIT_INDEX_FILE": str(index)}
            self._git.local(["read-tree", *([tip] if tip else ["--empty"])], self._repo, env)
            for path, text in files.items():
                target = tree_dir / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            pathspec = tmp / "pathspec"
            pathspec.write_bytes(b"".join(p.encode() + b"\0" for p in files))
            self._git.local(
                [*_LOCAL_CONFIG, f"--work-tree={tree_dir}", "add", "--force",
                 f"--pathspec-from-file={pathspec}", "--pathspec-file-nul"],
                self._repo, env,
            )  # fmt: skip
            tree = self._git.local(["write-tree"], self._repo, env).strip()
            if (
                tip
                and tree == self._git.local(["rev-parse", f"{tip}^{{tree}}"], self._repo).strip()
            ):
                return None
            message_file = tmp / "message"
            message_file.write_text(message, encoding="utf-8")
            parents = ["-p", tip] if tip else []
            args = ["commit-tree", "--no-gpg-sign", tree, *parents, "-F", str(message_file)]
            return self._git.local(args, self._repo, self._identity()).strip()

    def _identity(self) -> dict[str, str]:
        name, email = self._author
        return {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
