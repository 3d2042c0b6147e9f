"""``GitFleetRepository``: the ``ports.FleetRepository`` of a fleet repository, over gitpython.

Polling is cheap: ``remote_revision`` is one ``git ls-remote <url> <ref>`` (nothing cloned or
fetched; a ref that is already a full commit id costs nothing). ``checkout`` clones shallow
(``--depth 1``, single branch, bare) into the adapter's cache the first time, afterwards
fetches only the wanted commit (``--depth 1``), and writes that commit's files into a fresh
directory ``snapshots/<commit>`` which becomes current only once complete. Nothing about the
previous snapshot changes until then, so a failed fetch (bad credentials, missing branch,
unreachable remote) leaves ``current()`` exactly as it was. The current revision is recorded
in the cache, so a restarted process serves its last good snapshot without any fetch.
Symbolic links in the repository are written as plain files holding the link's target text,
so a fleet file can never make the reconciler read (and publish) a file of the host.
Calls on one object are serialized by a lock; use one object (and ``workdir``) per source.

Cache layout under ``workdir``: ``repo/`` (bare, shallow), ``snapshots/<commit>/``, ``CURRENT``.

Deliberately not here: poll scheduling, backoff and jitter (the reconciler's), and parsing
the files (``loading``). Errors are the ``errors.GitError`` tree (see ``failures``).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.git.command import GitRunner, parse_ls_remote
from infraagent.errors import GitError, GitRefNotFound
from infraagent.ports import Snapshot

_COMMIT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_KEEP_REF = "refs/infraagent/current"


def is_commit_id(ref: str) -> bool:
    """True when ``ref`` is a full (SHA-1 or SHA-256) commit id."""
    return _COMMIT.fullmatch(ref) is not None


def _candidates(ref: str) -> list[str]:
    """Remote ref names ``ref`` may mean, best first (a peeled tag before the tag object)."""
    if ref == "HEAD" or ref.startswith("refs/"):
        return [f"{ref}^{{}}", ref]
    return [f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"]


class GitFleetRepository:
    """A fleet repository's ``ref`` at ``url``, cached under ``workdir``.

    ``url``: https://, http://, ssh://, ``git@host:path``, file:// or a local path (a password
    in an http(s) URL is used as the token and never stored). ``ref``: a branch, a tag,
    ``refs/...``, ``HEAD`` or a full commit id. ``workdir`` belongs to this object: use one per
    source. ``timeout`` bounds each git command, in seconds.
    """

    def __init__(
        self,
        url: str,
        ref: str,
        workdir: Path | str,
        credentials: GitCredentials | None = None,
        *,
        timeout: float = 120.0,
    ) -> None:
        if not ref or ref.startswith("-"):
            raise ValueError(f"not a usable Git ref: {ref!r}")
        self.ref = ref
        self.workdir = Path(workdir)
        self._git = GitRunner(url, credentials, timeout=timeout)
        self._repo = self.workdir / "repo"
        self._snapshots = self.workdir / "snapshots"
        self._snapshots.mkdir(parents=True, exist_ok=True)
        self._current = self._restore()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The remote URL without user-info (safe to show)."""
        return self._git.display_url

    @property
    def remote_operations(self) -> dict[str, int]:
        """How many remote round trips of each kind (``ls-remote``, ``clone``, ``fetch``)
        this object has made."""
        return dict(self._git.remote_operations)

    def current(self) -> Snapshot | None:
        """The last snapshot successfully checked out (also across restarts), or None."""
        return self._current

    def remote_revision(self) -> str:
        """The commit ``ref`` points at on the remote: one ``ls-remote``, nothing fetched."""
        if is_commit_id(self.ref):
            return self.ref
        wanted = _candidates(self.ref)
        out = self._git.remote(
            "ls-remote", ["ls-remote", "--", self._git.url, *wanted], self.workdir
        )
        found = parse_ls_remote(out)
        for name in wanted:
            if name in found:
                return found[name]
        raise GitRefNotFound(f"git ls-remote {self.url}: ref {self.ref!r} not found")

    def checkout(self, revision: str) -> Snapshot:
        """Makes ``revision`` (a full commit id) the current snapshot, fetching only what is
        missing. On any failure the previous snapshot stays current and untouched."""
        if not is_commit_id(revision):
            raise ValueError(f"checkout needs a full commit id, got {revision!r}")
        with self._lock:
            return self._checkout(revision)

    def _checkout(self, revision: str) -> Snapshot:
        current = self._current
        if current is not None and current.revision == revision and current.root.is_dir():
            return current
        self._ensure_commit(revision)
        snapshot = self._materialize(revision)
        self._make_current(snapshot)
        return snapshot

    # -- fetching -------------------------------------------------------------------------

    def _has_commit(self, revision: str) -> bool:
        if not (self._repo / "HEAD").is_file():
            return False
        try:
            self._git.local(["cat-file", "-e", f"{revision}^{{commit}}"], self._repo)
        except GitError:
            return False
        return True

    def _ensure_commit(self, revision: str) -> None:
        if not self._repo_matches():
            self._clone()
        if not self._has_commit(revision):
            self._fetch(revision)
        if not self._has_commit(revision):
            raise GitRefNotFound(f"git fetch {self.url}: commit {revision} not found")
        self._git.local(["update-ref", _KEEP_REF, revision], self._repo)

    def _repo_matches(self) -> bool:
        if not (self._repo / "HEAD").is_file():
            return False
        try:
            url = self._git.local(["config", "--get", "remote.origin.url"], self._repo)
        except GitError:
            return False
        return url.strip() == self._git.url

    def _clone(self) -> None:
        """A shallow, single-branch, bare clone into a temporary directory, then moved in."""
        shutil.rmtree(self._repo, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.workdir))
        try:
            if self.ref.startswith("refs/") or is_commit_id(self.ref):
                self._git.local(["init", "--bare", "--quiet", str(tmp)], self.workdir)
                self._git.local(["remote", "add", "origin", self._git.url], tmp)
            else:
                branch = [] if self.ref == "HEAD" else ["--branch", self.ref]
                args = ["clone", "--bare", "--depth", "1", "--single-branch", "--no-tags"]
                self._git.remote(
                    "clone", [*args, *branch, "--", self._git.url, str(tmp)], self.workdir
                )
            self._git.local(["config", "gc.auto", "0"], tmp)
            tmp.rename(self._repo)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _fetch(self, revision: str) -> None:
        """Fetches just ``revision`` (depth 1); servers that refuse a commit id get the ref."""
        args = ["fetch", "--depth", "1", "--no-tags", "--no-write-fetch-head", "origin"]
        try:
            self._git.remote("fetch", [*args, revision], self._repo)
        except GitRefNotFound:
            if is_commit_id(self.ref):
                raise
            self._git.remote("fetch", [*args, self.ref], self._repo)

    # -- snapshots ------------------------------------------------------------------------

    def _materialize(self, revision: str) -> Snapshot:
        """Writes ``revision``'s files into ``snapshots/<revision>`` via a temporary dir."""
        final = self._snapshots / revision
        if final.is_dir():
            return Snapshot(revision=revision, root=final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{revision[:12]}-", dir=self._snapshots))
        index = tmp.with_name(tmp.name + ".index")
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self._git.local(["read-tree", revision], self._repo, env)
            args = ["-c", "core.symlinks=false", f"--work-tree={tmp}", "checkout-index", "-a", "-f"]
            self._git.local(args, self._repo, env)
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            index.unlink(missing_ok=True)
        return Snapshot(revision=revision, root=final)

    def _make_current(self, snapshot: Snapshot) -> None:
        marker = self.workdir / "CURRENT"
        tmp = marker.with_name(f".CURRENT-{os.getpid()}")
        tmp.write_text(snapshot.revision + "\n")
        tmp.replace(marker)
        self._current = snapshot
        for entry in self._snapshots.iterdir():
            if entry != snapshot.root:
                shutil.rmtree(entry, ignore_errors=True)

    def _restore(self) -> Snapshot | None:
        marker = self.workdir / "CURRENT"
        if not marker.is_file():
            return None
        revision = marker.read_text().strip()
        root = self._snapshots / revision
        if not is_commit_id(revision) or not root.is_dir():
            return None
        return Snapshot(revision=revision, root=root)
