"""A real control plane for the integration tests: etcd + kube-apiserver on loopback.

This does what controller-runtime's *envtest* does, in pytest:

- ``control_plane`` (session): finds ``kube-apiserver`` and ``etcd`` the envtest way
  (``TEST_ASSET_KUBE_APISERVER`` / ``TEST_ASSET_ETCD``, then ``$KUBEBUILDER_ASSETS``, or when
  that is unset the cache ``.ci/control-plane`` builds into), starts both on 127.0.0.1 with
  free ports and temporary data, with RBAC authorization and the default admission chain (including
  ValidatingAdmissionPolicy), a throw-away CA and an admin client certificate
  (``O=system:masters``), writes an admin kubeconfig, waits for ``/readyz`` and stops exactly
  the two processes it started. Missing binaries skip the tests, or fail them when
  ``REQUIRE_REAL_APISERVER=1`` (as ``.ci/run`` sets).
- ``kube_api`` (session): a ``kubernetes.client.ApiClient`` for that admin kubeconfig.
- ``crds`` (session): every CRD in ``crds/`` applied (server-side apply) and Established.
- ``namespace`` (function): a fresh namespace per test, deleted afterwards.

What it deliberately does not do: run controllers (no garbage collection, namespaces stay
``Terminating`` after delete), touch ``KUBECONFIG`` or ``~/.kube`` (pass
``control_plane.kubeconfig`` explicitly; ``control_plane.kubectl`` does), or build the
binaries (``.ci/control-plane`` does that).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import datetime as dt
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
BUILD_HINT = (
    "build them once with `.ci/control-plane` (needs Go and the Go module proxy; about "
    '8 min cold on 2 cores), then `export KUBEBUILDER_ASSETS="$(.ci/control-plane | '
    'tail -1)"`; or point KUBEBUILDER_ASSETS at a setup-envtest directory'
)
FIELD_MANAGER = "infraagent-tests"
_START_TIMEOUT = float(os.environ.get("INFRAAGENT_CONTROL_PLANE_START_TIMEOUT", "120"))
_STOP_TIMEOUT = 20.0


# --------------------------------------------------------------------------- binaries


def _asset_env(name: str) -> str:
    return "TEST_ASSET_" + re.sub(r"^[0-9]+", "", re.sub(r"[^A-Z0-9]+", "_", name.upper()))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"[0-9]+", path.parent.name))


def _asset_dirs() -> list[Path]:
    """Where to look: $KUBEBUILDER_ASSETS alone when it is set (as envtest does); otherwise
    the ``.ci/control-plane`` cache (newest version first), then envtest's default folder."""
    if os.environ.get("KUBEBUILDER_ASSETS"):
        return [Path(os.environ["KUBEBUILDER_ASSETS"])]
    cache = os.environ.get("INFRAAGENT_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "infraagent"
    )
    built = sorted(Path(cache).glob("control-plane/*/bin"), key=_version_key, reverse=True)
    return [*built, Path("/usr/local/kubebuilder/bin")]


def find_asset(name: str, dirs: Sequence[Path] | None = None) -> Path | None:
    """The envtest lookup: TEST_ASSET_<NAME>, then ``<dir>/<name>`` for each directory."""
    explicit = os.environ.get(_asset_env(name))
    if explicit:
        return Path(explicit) if os.access(explicit, os.X_OK) else None
    for d in _asset_dirs() if dirs is None else dirs:
        if os.access(d / name, os.X_OK):
            return d / name
    return None


def _find_control_plane_binaries() -> tuple[Path, Path] | None:
    # Take both binaries from the same directory unless TEST_ASSET_* says otherwise.
    for d in _asset_dirs():
        apiserver = find_asset("kube-apiserver", [d])
        etcd = find_asset("etcd", [d])
        if apiserver and etcd:
            return apiserver, etcd
    return None


def _missing(what: str) -> None:
    message = f"{what}: {BUILD_HINT}"
    if os.environ.get("REQUIRE_REAL_APISERVER") == "1":
        pytest.fail(f"REQUIRE_REAL_APISERVER=1 but {message}", pytrace=False)
    pytest.skip(message)


# --------------------------------------------------------------------------- certificates


def _pem(obj: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class _Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(
    cn: str, *, orgs: Sequence[str] = (), ca: _Issued | None = None, server: bool = False
) -> _Issued:
    """A CA (``ca=None``), or a server / client certificate signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
        + [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    )
    is_ca = ca is None
    signer = key if ca is None else ca.key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if ca is None else ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if ca is not None:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _Issued(builder.sign(signer, hashes.SHA256()), key)


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook: if pytest itself is killed, the kernel stops the child too (Linux)."""
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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ok(
    url: str, proc: subprocess.Popen[bytes], log: Path, ctx: ssl.SSLContext | None = None
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.stem} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=3) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code}: {err.read()[:2000].decode(errors='replace')}"
        except OSError as err:
            last = str(err)
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {_START_TIMEOUT:.0f}s ({last}):\n{_tail(log)}")


def _supports_flag(binary: Path, flag: str) -> bool:
    out = subprocess.run(
        [str(binary), "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    return flag in out.stdout + out.stderr


# --------------------------------------------------------------------------- the fixture


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver pair and the admin's credentials."""

    server: str
    kubeconfig: Path
    workdir: Path
    version: str
    start_seconds: float
    apiserver_log: Path
    etcd_log: Path
    kubectl_path: Path | None = None
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl as the admin (argv list, no shell); fail the test on error."""
        if self.kubectl_path is None:
            _missing("kubectl not found (PATH, TEST_ASSET_KUBECTL or KUBEBUILDER_ASSETS)")
        assert self.kubectl_path is not None
        argv = [
            str(self.kubectl_path),
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        result = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}",
                pytrace=False,
            )
        return result


def _write_pki(d: Path) -> tuple[_Issued, _Issued]:
    ca = _issue("infraagent-test-ca")
    serving = _issue("localhost", ca=ca, server=True)
    admin = _issue("infraagent-test-admin", orgs=["system:masters"], ca=ca)
    sa = ec.generate_private_key(ec.SECP256R1())
    sa_pub = sa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    files = {
        "ca.crt": _pem(ca.cert),
        "apiserver.crt": _pem(serving.cert),
        "apiserver.key": _pem(serving.key),
        "admin.crt": _pem(admin.cert),
        "admin.key": _pem(admin.key),
        "sa.key": _pem(sa),
        "sa.pub": sa_pub,
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
        (d / name).chmod(0o600)
    return ca, admin


def _kubeconfig(server: str, ca: _Issued, admin: _Issued) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "envtest",
        "clusters": [
            {
                "name": "envtest",
                "cluster": {"server": server, "certificate-authority-data": b64(_pem(ca.cert))},
            }
        ],
        "users": [
            {
                "name": "envtest-admin",
                "user": {
                    "client-certificate-data": b64(_pem(admin.cert)),
                    "client-key-data": b64(_pem(admin.key)),
                },
            }
        ],
        "contexts": [
            {"name": "envtest", "context": {"cluster": "envtest", "user": "envtest-admin"}}
        ],
    }
    return yaml.safe_dump(config)


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
    # envtest's flag set (reference/real-apiserver.md §2.4). No --advertise-address: the
    # address comes from the default route; loopback would be rejected.
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


def _server_version(server: str, ctx: ssl.SSLContext) -> str:
    with urllib.request.urlopen(f"{server}/version", context=ctx, timeout=5) as resp:
        version: str = json.load(resp).get("gitVersion", "?")
        return version


def _find_kubectl() -> Path | None:
    found = find_asset("kubectl")
    if found is not None:
        return found
    which = shutil.which("kubectl")
    return Path(which) if which else None


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver for the whole session; stopped (only these two PIDs) at the end."""
    binaries = _find_control_plane_binaries()
    if binaries is None:
        _missing("kube-apiserver and etcd were not found")
    assert binaries is not None
    apiserver, etcd = binaries
    d = tmp_path_factory.mktemp("control-plane")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        ca, admin = _write_pki(d)
        etcd_port, peer_port, port = _free_port(), _free_port(), _free_port()
        etcd_log, apiserver_log = d / "etcd.log", d / "kube-apiserver.log"
        procs.append(_spawn(_etcd_argv(etcd, d, etcd_port, peer_port), etcd_log))
        _wait_ok(f"http://127.0.0.1:{etcd_port}/health", procs[0], etcd_log)
        procs.append(_spawn(_apiserver_argv(apiserver, d, etcd_port, port), apiserver_log))
        ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
        ctx.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
        server = f"https://127.0.0.1:{port}"
        _wait_ok(f"{server}/readyz", procs[1], apiserver_log, ctx)
        elapsed = time.monotonic() - started
        kubeconfig = d / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(server, ca, admin))
        kubeconfig.chmod(0o600)
        plane = ControlPlane(
            server=server,
            kubeconfig=kubeconfig,
            workdir=d,
            version=_server_version(server, ctx),
            start_seconds=elapsed,
            apiserver_log=apiserver_log,
            etcd_log=etcd_log,
            kubectl_path=_find_kubectl(),
            _procs=procs,
        )
        pytestconfig.stash[_PLANE_KEY] = plane
        yield plane
    finally:
        for proc in reversed(procs):  # the API server first, then etcd: only our own PIDs
            _stop(proc)


_PLANE_KEY = pytest.StashKey[ControlPlane]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say once per session how long the (warm) control plane took to become ready."""
    plane = config.stash.get(_PLANE_KEY, None)
    if plane is not None:
        terminalreporter.write_line(
            f"control plane: kube-apiserver {plane.version} + etcd ready (/readyz) in "
            f"{plane.start_seconds:.1f}s (warm start: binaries already built)"
        )


# --------------------------------------------------------------------------- clients


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` authenticated as the admin."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield client
    finally:
        client.close()


def load_crd_files() -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in ``crds/``, as plain dicts."""
    docs: list[dict[str, Any]] = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def apply_crd(kube_api: Any, crd: dict[str, Any]) -> None:
    """Server-side apply one CRD (field manager ``infraagent-tests``)."""
    from kubernetes import client

    client.ApiextensionsV1Api(kube_api).patch_custom_resource_definition(
        crd["metadata"]["name"],
        crd,
        field_manager=FIELD_MANAGER,
        force=True,
        _content_type="application/apply-patch+yaml",
        _preload_content=False,
    )


def wait_established(kube_api: Any, name: str, timeout: float = 30) -> dict[str, str]:
    """Wait until the CRD is Established; return its conditions as ``{type: status}``."""
    from kubernetes import client

    api = client.ApiextensionsV1Api(kube_api)
    deadline = time.monotonic() + timeout
    conditions: dict[str, str] = {}
    while time.monotonic() < deadline:
        raw = api.read_custom_resource_definition(name, _preload_content=False)
        status = json.loads(raw.data).get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
        if conditions.get("Established") == "True":
            return conditions
        time.sleep(0.2)
    return conditions


@pytest.fixture(scope="session")
def crds(kube_api: Any) -> list[str]:
    """Every CRD of ``crds/`` installed and Established; their names."""
    names = []
    for crd in load_crd_files():
        apply_crd(kube_api, crd)
        names.append(crd["metadata"]["name"])
    for name in names:
        conditions = wait_established(kube_api, name)
        assert conditions.get("Established") == "True", f"{name}: {conditions}"
    return names


@pytest.fixture
def namespace(kube_api: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own, deleted afterwards (it stays Terminating: no controllers)."""
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{base or 'test'}-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(Exception):
            core.delete_namespace(name)
