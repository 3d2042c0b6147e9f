"""A real control plane for the integration tests: etcd + kube-apiserver on loopback.

This does what controller-runtime's *envtest* does, in pytest, on top of the package's own
``infraagent.adapters.kube.localplane`` (the one the README's first command starts):

- ``control_plane`` (session): a ``LocalControlPlane`` from the binaries ``find_binaries``
  finds (``TEST_ASSET_KUBE_APISERVER`` / ``TEST_ASSET_ETCD``, then ``$KUBEBUILDER_ASSETS``,
  or when that is unset the cache ``.ci/control-plane`` builds into), with RBAC
  authorization, the default admission chain (including ValidatingAdmissionPolicy) and an
  admin kubeconfig; stopped (exactly its two processes) at the end of the session. Missing
  binaries skip the tests, or fail them when ``REQUIRE_REAL_APISERVER=1`` (as ``.ci/run``
  sets).
- ``kube_api`` (session): a ``kubernetes.client.ApiClient`` for that admin kubeconfig.
- ``crds`` (session): every CRD in ``crds/`` applied (server-side apply) and Established.
- ``namespace`` (function): a fresh namespace per test, deleted afterwards.

What it deliberately does not do: run controllers (no garbage collection, namespaces stay
``Terminating`` after delete), touch ``KUBECONFIG`` or ``~/.kube`` (pass
``control_plane.kubeconfig`` explicitly; ``control_plane.kubectl`` does), or build the
binaries (``.ci/control-plane`` does that).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube.localplane import (
    BUILD_HINT,
    LocalControlPlane,
    find_asset,
    find_binaries,
)
from infraagent.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
FIELD_MANAGER = "infraagent-tests"
_START_TIMEOUT = float(os.environ.get("INFRAAGENT_CONTROL_PLANE_START_TIMEOUT", "120"))


def _missing(what: str) -> None:
    message = f"{what}: {BUILD_HINT}"
    if os.environ.get("REQUIRE_REAL_APISERVER") == "1":
        pytest.fail(f"REQUIRE_REAL_APISERVER=1 but {message}", pytrace=False)
    pytest.skip(message)


class ControlPlane(LocalControlPlane):
    """The session's ``LocalControlPlane``, plus the real kubectl as its admin."""

    kubectl_path: Path | None = None

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


def _find_kubectl(settings: Settings) -> Path | None:
    found = find_asset("kubectl", settings)
    if found is not None:
        return found
    which = shutil.which("kubectl")
    return Path(which) if which else None


@pytest.fixture(scope="session")
def control_plane(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver for the whole session; stopped (only these two PIDs) at the end."""
    settings = Settings.from_environ(os.environ)
    binaries = find_binaries(settings)
    if binaries is None:
        _missing("kube-apiserver and etcd were not found")
    assert binaries is not None
    etcd, apiserver = binaries
    workdir = tmp_path_factory.mktemp("control-plane")
    plane = ControlPlane(etcd, apiserver, workdir=workdir, start_timeout=_START_TIMEOUT)
    plane.kubectl_path = _find_kubectl(settings)
    with plane:
        pytestconfig.stash[_PLANE_KEY] = plane
        yield plane


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
        status = json.loads(raw.data).get("status") or {}  # null right after creation
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
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
