"""A local control plane: etcd + kube-apiserver on loopback, for the first command and tests.

- ``find_binaries(settings)``: the envtest lookup of ``etcd`` and ``kube-apiserver``:
  ``TEST_ASSET_ETCD`` / ``TEST_ASSET_KUBE_APISERVER``, then ``$KUBEBUILDER_ASSETS`` alone
  when it is set, otherwise the cache ``.ci/control-plane`` builds into
  (``<cache>/control-plane/<k8s version>/bin``, newest version first), then envtest's
  default folder.
- ``build_binaries(repo_root, progress)``: runs ``.ci/control-plane`` (argv list) and passes
  each line it prints to ``progress``; returns the bin directory.
- ``LocalControlPlane``: a context manager that starts etcd, then kube-apiserver, on
  127.0.0.1 with free ports and temporary data, RBAC authorization, the default admission
  chain (with ValidatingAdmissionPolicy), a throw-away CA and an admin client certificate
  (``O=system:masters``); waits for ``/readyz``; writes an admin kubeconfig; and on exit
  stops exactly the two processes it started. If the starting thread dies, the kernel
  kills both (Linux parent-death signal), so a killed parent leaves no orphans.

What it deliberately does not do: run controllers (no garbage collection, namespaces stay
``Terminating``), touch ``KUBECONFIG`` or ``~/.kube`` (callers pass ``kubeconfig``), read
the environment (``Settings`` does), or listen on anything but loopback.
"""

from __future__ import annotations

import base64
import ctypes
import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import yaml

from infraagent.adapters.kube.localpki import Issued, pem, write_pki
from infraagent.errors import InfraAgentError
from infraagent.settings import Settings

ENVTEST_DEFAULT_DIR: Final = Path("/usr/local/kubebuilder/bin")
BUILD_SCRIPT: Final = Path(".ci") / "control-plane"
BUILD_HINT: Final = (
    "build them once with `.ci/control-plane` (needs Go and the Go module proxy; about "
    '8 min cold on 2 cores), then `export KUBEBUILDER_ASSETS="$(.ci/control-plane | '
    'tail -1)"`; or point KUBEBUILDER_ASSETS at a setup-envtest directory'
)
CONTEXT: Final = "infraagent-local"


class ControlPlaneError(InfraAgentError):
    """The local control plane could not be found, built, started or reached."""


# --------------------------------------------------------------------------- binaries


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"[0-9]+", path.parent.name))


def asset_dirs(settings: Settings) -> list[Path]:
    """Where to look: $KUBEBUILDER_ASSETS alone when it is set (as envtest does); otherwise
    the ``.ci/control-plane`` cache (newest version first), then envtest's default folder."""
    if settings.kubebuilder_assets is not None:
        return [settings.kubebuilder_assets]
    built: list[Path] = []
    if settings.cache_dir is not None:
        built = sorted(
            settings.cache_dir.glob("control-plane/*/bin"), key=_version_key, reverse=True
        )
    return [*built, ENVTEST_DEFAULT_DIR]


def _executable(path: Path) -> bool:
    return path.is_file() and bool(path.stat().st_mode & 0o111)


def find_asset(name: str, settings: Settings, dirs: Sequence[Path] | None = None) -> Path | None:
    """The envtest lookup of one binary: TEST_ASSET_<NAME>, then ``<dir>/<name>``."""
    explicit = settings.test_assets.get(name)
    if explicit is not None:
        return explicit if _executable(explicit) else None
    for folder in asset_dirs(settings) if dirs is None else dirs:
        if _executable(folder / name):
            return folder / name
    return None


def find_binaries(settings: Settings) -> tuple[Path, Path] | None:
    """``(etcd, kube_apiserver)``, both from one directory unless TEST_ASSET_* says
    otherwise; None when no directory has both."""
    for folder in asset_dirs(settings):
        etcd = find_asset("etcd", settings, [folder])
        apiserver = find_asset("kube-apiserver", settings, [folder])
        if etcd and apiserver:
            return etcd, apiserver
    return None


def build_binaries(repo_root: Path, progress: Callable[[str], None]) -> Path:
    """Build (or find in its cache) the binaries with ``.ci/control-plane``; the bin folder.

    Every line the script prints is passed to ``progress`` (a cold build takes minutes).
    """
    script = repo_root / BUILD_SCRIPT
    if not _executable(script):
        raise ControlPlaneError(
            f"kube-apiserver and etcd were not found and there is no executable {BUILD_SCRIPT} "
            f"in {repo_root.name or repo_root}: point KUBEBUILDER_ASSETS at a folder holding "
            "both (setup-envtest's layout), or run from a checkout of InfraAgent"
        )
    lines: list[str] = []
    with subprocess.Popen(
        [str(script)],
        cwd=repo_root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            progress(line)
    folder = Path(lines[-1]) if lines else Path()
    if proc.returncode != 0 or not (
        _executable(folder / "etcd") and _executable(folder / "kube-apiserver")
    ):
        tail = "\n".join(lines[-15:])
        raise ControlPlaneError(
            f"{BUILD_SCRIPT} exited with {proc.returncode} without building etcd and "
            f"kube-apiserver:\n{tail}"
        )
    return folder


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook: if the starting thread dies, the kernel kills the child (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before the fork
    except (OSError, AttributeError):
        return None

    def hook() -> None:  # runs in the child between fork and exec: no imports, no locks
        # PR_SET_PDEATHSIG. SIGKILL: a graceful API server shutdown can hang once etcd is gone.
        prctl(1, signal.SIGKILL)

    return hook


def _spawn(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_parent_death_signal(),  # noqa: PLW1509
        )


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ok(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float,
    ctx: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ControlPlaneError(f"{log.stem} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=3) as resp:  # noqa: S310 (our URL)
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}: {err.read()[:2000].decode(errors='replace')}"
        except OSError as err:
            last = str(err)
        time.sleep(0.2)
    raise ControlPlaneError(f"{url} not ready after {timeout:.0f}s ({last}):\n{_tail(log)}")


def _supports_flag(binary: Path, flag: str) -> bool:
    out = subprocess.run(
        [str(binary), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    return flag in out.stdout + out.stderr


def _etcd_argv(etcd: Path, d: Path, client: int, peer: int) -> list[str]:
    argv = [
        str(etcd),
        "--name=default",
        f"--data-dir={d / 'etcd-data'}",
        f"--listen-client-urls=http://127.0.0.1:{client}",
        f"--advertise-client-urls=http://127.0.0.1:{client}",
        f"--listen-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
        f"--initial-cluster=default=http://127.0.0.1:{peer}",
        "--log-level=warn",
    ]
    if _supports_flag(etcd, "--unsafe-no-fsync"):
        argv.append("--unsafe-no-fsync=true")
    return argv


def _apiserver_argv(apiserver: Path, d: Path, etcd_port: int, port: int) -> list[str]:
    # envtest's flag set. No --advertise-address: the address comes from the default route;
    # loopback would be rejected.
    return [
        str(apiserver),
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        f"--tls-cert-file={d / 'apiserver.crt'}",
        f"--tls-private-key-file={d / 'apiserver.key'}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        f"--client-ca-file={d / 'ca.crt'}",
        "--authorization-mode=RBAC",
        # The default chain already has these; named so that a reader sees what we rely on.
        "--enable-admission-plugins=NamespaceLifecycle,ValidatingAdmissionPolicy,"
        "ValidatingAdmissionWebhook,MutatingAdmissionWebhook",
        # No token controller runs, so Pods could never get a ServiceAccount token.
        "--disable-admission-plugins=ServiceAccount",
        f"--service-account-issuer=https://127.0.0.1:{port}/",
        f"--service-account-key-file={d / 'sa.pub'}",
        f"--service-account-signing-key-file={d / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--allow-privileged=true",
    ]


def kubeconfig_text(server: str, ca: Issued, admin: Issued) -> str:
    """An admin kubeconfig with the certificates inline (context ``infraagent-local``)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    cluster = {"server": server, "certificate-authority-data": b64(pem(ca.cert))}
    user = {
        "client-certificate-data": b64(pem(admin.cert)),
        "client-key-data": b64(pem(admin.key)),
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": CONTEXT,
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": f"{CONTEXT}-admin", "user": user}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin"}}
        ],
    }
    return yaml.safe_dump(config)


# --------------------------------------------------------------------------- the plane


class LocalControlPlane:
    """etcd + kube-apiserver on loopback; ``with LocalControlPlane(etcd, apiserver) as p:``.

    ``workdir`` holds the certificates, the etcd data, both logs and the kubeconfig; without
    one a temporary folder is made and removed on stop. After start: ``server`` (the HTTPS
    URL), ``kubeconfig`` (the admin kubeconfig file), ``version`` (the server's gitVersion),
    ``start_seconds`` and ``pids``. Start from a thread that outlives the plane: the
    parent-death signal follows the thread that started the processes.
    """

    def __init__(
        self,
        etcd: Path,
        kube_apiserver: Path,
        *,
        workdir: Path | None = None,
        start_timeout: float = 120.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.etcd, self.kube_apiserver = etcd, kube_apiserver
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="infraagent-plane-"))
        self.start_timeout, self.stop_timeout = start_timeout, stop_timeout
        self.kubeconfig = self.workdir / "kubeconfig"
        self.etcd_log = self.workdir / "etcd.log"
        self.apiserver_log = self.workdir / "kube-apiserver.log"
        self.server = ""
        self.version = ""
        self.start_seconds = 0.0
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of etcd and kube-apiserver (those still running)."""
        return tuple(p.pid for p in self._procs if p.poll() is None)

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start both processes and wait for ``/readyz``; on failure stop what was started."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        started = time.monotonic()
        d = self.workdir
        d.mkdir(parents=True, exist_ok=True)
        ca, admin = write_pki(d, CONTEXT)
        etcd_port, peer_port, port = _free_port(), _free_port(), _free_port()
        self._procs.append(_spawn(_etcd_argv(self.etcd, d, etcd_port, peer_port), self.etcd_log))
        health = f"http://127.0.0.1:{etcd_port}/health"
        _wait_ok(health, self._procs[0], self.etcd_log, self.start_timeout)
        argv = _apiserver_argv(self.kube_apiserver, d, etcd_port, port)
        self._procs.append(_spawn(argv, self.apiserver_log))
        ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
        ctx.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
        server = f"https://127.0.0.1:{port}"
        _wait_ok(f"{server}/readyz", self._procs[1], self.apiserver_log, self.start_timeout, ctx)
        self.start_seconds = time.monotonic() - started
        self.kubeconfig.write_text(kubeconfig_text(server, ca, admin))
        self.kubeconfig.chmod(0o600)
        version_url = f"{server}/version"  # https, built here
        with urllib.request.urlopen(version_url, context=ctx, timeout=5) as resp:  # noqa: S310
            self.version = str(json.load(resp).get("gitVersion", "?"))
        self.server = server

    def stop(self) -> None:
        """Stop the API server, then etcd (only these two PIDs); remove an own workdir."""
        for proc in reversed(self._procs):
            _stop(proc, self.stop_timeout)
        self._procs.clear()
        self.server = ""
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
