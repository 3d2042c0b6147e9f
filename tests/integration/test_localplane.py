"""The local control plane the first command starts: real etcd + kube-apiserver, no orphans.

Each test that starts a plane starts its own (not the session's ``control_plane``), so it can
watch the processes come and go. Finding and building the binaries is tested on fake
folders and a fake build script.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from infraagent.adapters.kube.localplane import (
    ControlPlaneError,
    LocalControlPlane,
    build_binaries,
    find_binaries,
)
from infraagent.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def binaries() -> tuple[Path, Path]:
    found = find_binaries(Settings.from_environ(os.environ))
    if found is None:
        message = "kube-apiserver and etcd were not found: run .ci/control-plane"
        if os.environ.get("REQUIRE_REAL_APISERVER") == "1":
            pytest.fail(f"REQUIRE_REAL_APISERVER=1 but {message}", pytrace=False)
        pytest.skip(message)
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _running_with(argument: str) -> list[int]:
    """Running processes with ``argument`` in their command line."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in argv and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def _gone_soon(pids: tuple[int, ...], within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


# --------------------------------------------------------------------------- a real plane


def test_plane_serves_kubectl_with_rbac_and_stops_without_leftovers(
    binaries: tuple[Path, Path],
) -> None:
    etcd, apiserver = binaries
    with LocalControlPlane(etcd, apiserver) as plane:
        pids, workdir = plane.pids, plane.workdir
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        assert plane.server.startswith("https://127.0.0.1:")
        config = yaml.safe_load(plane.kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == plane.server
        assert plane.kubeconfig.stat().st_mode & 0o077 == 0  # holds the admin's key

        listed = _kubectl(plane.kubeconfig, "get", "ns", "-o", "json")
        assert listed.returncode == 0, listed.stderr
        names = {item["metadata"]["name"] for item in json.loads(listed.stdout)["items"]}
        assert {"default", "kube-system"} <= names

        # RBAC is on: a user without bindings may do nothing; the admin may do everything.
        stranger = _kubectl(plane.kubeconfig, "auth", "can-i", "list", "pods", "--as=stranger")
        assert stranger.stdout.strip() == "no"
        admin = _kubectl(plane.kubeconfig, "auth", "can-i", "delete", "namespaces")
        assert admin.stdout.strip() == "yes"
    assert not any(_alive(pid) for pid in pids)
    assert plane.pids == ()
    assert not workdir.exists()  # its own temporary folder: certificates and data removed


def test_a_given_workdir_is_kept_with_both_logs(
    binaries: tuple[Path, Path], tmp_path: Path
) -> None:
    etcd, apiserver = binaries
    with LocalControlPlane(etcd, apiserver, workdir=tmp_path / "plane") as plane:
        assert plane.version.startswith("v1.")
        pids = plane.pids
    assert not any(_alive(pid) for pid in pids)
    assert (tmp_path / "plane" / "kube-apiserver.log").exists()
    assert (tmp_path / "plane" / "etcd.log").exists()


_CHILD = """
import sys
from pathlib import Path
from infraagent.adapters.kube.localplane import LocalControlPlane
plane = LocalControlPlane(Path(sys.argv[1]), Path(sys.argv[2]))
plane.start()
print(" ".join(str(pid) for pid in plane.pids), flush=True)
sys.stdin.read()  # until killed
"""


def test_a_killed_parent_leaves_no_processes_behind(binaries: tuple[Path, Path]) -> None:
    etcd, apiserver = binaries
    parent = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(etcd), str(apiserver)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert parent.stdout is not None
        pids = tuple(int(p) for p in parent.stdout.readline().split())
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        parent.send_signal(signal.SIGKILL)  # no cleanup code runs in the parent
        parent.wait()
        assert _gone_soon(pids), f"still running after the parent died: {pids}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_an_apiserver_that_exits_is_reported_and_etcd_is_stopped(
    binaries: tuple[Path, Path], tmp_path: Path
) -> None:
    etcd, _ = binaries
    broken = tmp_path / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'error: unknown flag --surprise' >&2\nexit 3\n")
    broken.chmod(0o755)
    plane = LocalControlPlane(etcd, broken, workdir=tmp_path / "plane")
    with pytest.raises(ControlPlaneError, match="unknown flag --surprise") as caught:
        plane.start()
    assert "exited with 3" in str(caught.value)
    assert plane.pids == ()
    assert _running_with(f"--data-dir={tmp_path / 'plane'}") == []  # etcd was stopped


# --------------------------------------------------------------------------- binaries


def _fake_bin(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


def test_kubebuilder_assets_alone_is_searched_when_set(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fake_bin(cache / "control-plane" / "v1.36.3" / "bin", "etcd", "kube-apiserver")
    assets = _fake_bin(tmp_path / "assets", "etcd")  # no kube-apiserver here
    settings = Settings(kubebuilder_assets=assets, cache_dir=cache)
    assert find_binaries(settings) is None
    _fake_bin(assets, "kube-apiserver")
    assert find_binaries(settings) == (assets / "etcd", assets / "kube-apiserver")


def test_the_newest_cached_version_wins(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for version in ("v1.9.0", "v1.36.3", "v1.35.10"):
        _fake_bin(cache / "control-plane" / version / "bin", "etcd", "kube-apiserver")
    newest = cache / "control-plane" / "v1.36.3" / "bin"
    assert find_binaries(Settings(cache_dir=cache)) == (newest / "etcd", newest / "kube-apiserver")


def test_test_asset_variables_override_the_folders(tmp_path: Path) -> None:
    folder = _fake_bin(tmp_path / "bin", "etcd", "kube-apiserver")
    mine = _fake_bin(tmp_path / "mine", "my-etcd") / "my-etcd"
    env = {"KUBEBUILDER_ASSETS": str(folder), "TEST_ASSET_ETCD": str(mine)}
    assert find_binaries(Settings.from_environ(env)) == (mine, folder / "kube-apiserver")
    missing = {"KUBEBUILDER_ASSETS": str(folder), "TEST_ASSET_ETCD": str(tmp_path / "nope")}
    assert find_binaries(Settings.from_environ(missing)) is None


def test_cache_folder_follows_the_build_scripts_variables() -> None:
    assert Settings.from_environ({"INFRAAGENT_CACHE": "/c", "HOME": "/h"}).cache_dir == Path("/c")
    xdg = Settings.from_environ({"XDG_CACHE_HOME": "/x", "HOME": "/h"})
    assert xdg.cache_dir == Path("/x/infraagent")
    assert Settings.from_environ({"HOME": "/h"}).cache_dir == Path("/h/.cache/infraagent")


def _fake_repo(root: Path, body: str) -> Path:
    script = root / ".ci" / "control-plane"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return root


def test_build_streams_progress_and_returns_the_bin_folder(tmp_path: Path) -> None:
    bin_dir = _fake_bin(tmp_path / "built" / "bin", "etcd", "kube-apiserver")
    repo = _fake_repo(
        tmp_path / "repo",
        f"""\
        echo 'control-plane: compiling etcd' >&2
        echo 'control-plane: compiling kube-apiserver' >&2
        echo '{bin_dir}'
        """,
    )
    lines: list[str] = []
    assert build_binaries(repo, lines.append) == bin_dir
    assert lines[:2] == ["control-plane: compiling etcd", "control-plane: compiling kube-apiserver"]


def test_a_failed_build_says_why(tmp_path: Path) -> None:
    repo = _fake_repo(
        tmp_path / "repo", "echo 'control-plane: the go command is needed' >&2\nexit 2\n"
    )
    with pytest.raises(ControlPlaneError, match="the go command is needed") as caught:
        build_binaries(repo, lambda line: None)
    assert "exited with 2" in str(caught.value)


def test_without_a_build_script_the_error_names_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneError, match="KUBEBUILDER_ASSETS"):
        build_binaries(tmp_path, lambda line: None)
