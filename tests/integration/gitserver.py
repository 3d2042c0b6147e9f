"""A real Git smart-HTTP server for tests, plus helpers that build bare repositories.

- ``GitHttpServer``: ``http.server.ThreadingHTTPServer`` on 127.0.0.1 (free port) that runs
  ``git http-backend`` as a CGI subprocess (argv list) over the bare repositories under
  ``root``, requires HTTP Basic auth with ``user``/``token`` (401 + ``WWW-Authenticate``
  otherwise), enables pushes, counts requests by kind in ``counts`` (``info/refs``: the
  start of every ls-remote, fetch or push; ``ls-refs``: a protocol-v2 ref listing;
  ``fetch``: an upload-pack request asking for objects, i.e. a clone or fetch;
  ``receive-pack``: a push; ``unauthorized``: refused for bad credentials) and can be stopped, after
  which connections are refused. ``before`` holds one-shot hooks run before a request kind
  is served (to race a push against the code under test); besides the kinds above,
  ``info/refs:git-receive-pack`` / ``info/refs:git-upload-pack`` name the first request of
  a push / of a fetch or ls-remote.
- ``git_http_server``: the pytest fixture (import it into a test module to use it).
- ``make_bare_repo`` / ``commit_files`` / ``branch_files`` / ``refs_of``: bare repositories
  with commits made from a dict of files, with the ``git`` command line only (never the code
  under test).
"""

from __future__ import annotations

import base64
import gzip
import hmac
import os
import secrets
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

AUTHOR_ENV = {
    "GIT_AUTHOR_NAME": "Fleet Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Fleet Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
}


def git(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> str:
    """Runs the git command line (argv list) and returns stdout; raises on failure."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **AUTHOR_ENV, **(env or {})},
        input=stdin,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode()}")
    return done.stdout.decode()


def commit_files(
    bare: Path,
    files: Mapping[str, str],
    *,
    branch: str = "main",
    message: str = "change",
    delete: tuple[str, ...] = (),
    symlinks: Mapping[str, str] | None = None,
) -> str:
    """Commits ``files`` (path → text) and ``symlinks`` (path → link target) on top of
    ``branch`` (created when missing) in the bare repository, removing ``delete``; returns
    the new commit id."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        try:
            parent: str | None = git(
                "rev-parse", "--verify", f"refs/heads/{branch}", cwd=bare
            ).strip()
        except RuntimeError:
            parent = None
        git("read-tree", *([parent] if parent else ["--empty"]), cwd=bare, env=env)
        for path, text in files.items():
            blob = git("hash-object", "-w", "--stdin", cwd=bare, stdin=text.encode()).strip()
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", cwd=bare, env=env)
        for path, target in (symlinks or {}).items():
            blob = git("hash-object", "-w", "--stdin", cwd=bare, stdin=target.encode()).strip()
            git("update-index", "--add", "--cacheinfo", f"120000,{blob},{path}", cwd=bare, env=env)
        for path in delete:
            git(f"--work-tree={tmp}", "update-index", "--force-remove", path, cwd=bare, env=env)
        tree = git("write-tree", cwd=bare, env=env).strip()
        parents = ["-p", parent] if parent else []
        commit = git("commit-tree", tree, *parents, "-m", message, cwd=bare).strip()
        git("update-ref", f"refs/heads/{branch}", commit, *([parent] if parent else []), cwd=bare)
        return commit


def make_bare_repo(
    root: Path, name: str, files: Mapping[str, str], *, branch: str = "main"
) -> Path:
    """A new bare repository ``root/name`` whose ``branch`` holds one commit of ``files``."""
    bare = root / name
    git("init", "--bare", "--quiet", f"--initial-branch={branch}", str(bare))
    commit_files(bare, files, branch=branch, message="initial fleet")
    return bare


def branch_files(bare: Path, branch: str) -> dict[str, str]:
    """Every file (path → text) at the tip of ``branch``."""
    names = git("ls-tree", "-r", "-z", "--name-only", f"refs/heads/{branch}", cwd=bare).split("\0")
    return {n: git("show", f"refs/heads/{branch}:{n}", cwd=bare) for n in names if n}


def refs_of(bare: Path) -> dict[str, str]:
    """Every ref of the repository and the commit it points at."""
    out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=bare)
    return dict(line.split(" ", 1) for line in out.splitlines())


def _upload_command(body: bytes, encoding: str) -> str:
    """``ls-refs`` (protocol v2 listing: an ls-remote) or ``fetch`` (objects were asked for)."""
    if encoding.lower() in ("gzip", "x-gzip"):
        body = gzip.decompress(body)
    return "ls-refs" if body[4:].startswith(b"command=ls-refs") else "fetch"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _kind(self, path: str) -> str:
        for suffix, kind in (
            ("/info/refs", "info/refs"),
            ("/git-upload-pack", "upload-pack"),
            ("/git-receive-pack", "receive-pack"),
        ):
            if path.endswith(suffix):
                return kind
        return "other"

    def _authorized(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        owner = self.server.owner
        ok = user == owner.user and hmac.compare_digest(token, owner.token)
        return user if ok else None

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                chunk = self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        kind = self._kind(parts.path)
        user = self._authorized()
        if user is None:
            owner.record("unauthorized")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self._body()
        if kind == "upload-pack":
            kind = _upload_command(body, self.headers.get("Content-Encoding", ""))
        owner.record(kind)
        keys = [kind]
        if kind == "info/refs":
            keys.append("info/refs:" + parse_qs(parts.query).get("service", [""])[0])
        for key in keys:
            hook = owner.before.pop(key, None)
            if hook is not None:
                hook()
        self._cgi(parts.path, parts.query, user, body)

    def _cgi(self, path: str, query: str, user: str, body: bytes) -> None:
        owner = self.server.owner
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", "") if owner.protocol_v2 else "",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: GitHttpServer


class GitHttpServer:
    """A running smart-HTTP Git server over the bare repositories in ``root``."""

    def __init__(self, root: Path, user: str, token: str) -> None:
        self.root, self.user, self.token = root, user, token
        self.counts: Counter[str] = Counter()
        self.protocol_v2 = True  # False: speak protocol v0 only, like older servers
        self.before: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self._running = True

    def url(self, name: str) -> str:
        """The clone URL of repository ``name`` (no credentials in it)."""
        return f"http://127.0.0.1:{self.port}/{name}"

    def record(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()

    def stop(self) -> None:
        """Stops serving and closes the socket: later connections are refused."""
        if self._running:
            self._running = False
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()


@pytest.fixture
def git_http_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    """A Git HTTP server over ``tmp_path/served`` with a random token, stopped afterwards."""
    root = tmp_path / "served"
    root.mkdir()
    server = GitHttpServer(root, "fleet-bot", "tok-" + secrets.token_hex(16))
    try:
        yield server
    finally:
        server.stop()
