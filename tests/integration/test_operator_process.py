"""Two real ``infraagent operator`` processes against the real API server: one leader at a time.

Each replica is a separate ``python -m infraagent.cli.main operator`` process with a short
Lease (2 s, renewed every 0.5 s) in the test's namespace. Exactly one holds the Lease while
the other waits; the leader does its duties on taking over (a run left ``Running`` is closed
as ``Interrupted``, the data-protection admission policy is put in place); SIGTERM makes it
release the Lease and exit 0, and the other takes over within the lease duration. The
handover time is printed (``pytest -s``). In process: a new leader given ``owner_alive``
(``jobs.job_alive``) leaves a run that a live Job still executes open.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.lease import DEFAULT_LEASE_NAME
from infraagent.admission import BINDING_NAME, POLICY_NAME
from infraagent.models.agent import InfraAgent
from infraagent.models.agentrun import Trigger
from infraagent.operator.jobs import job_alive
from infraagent.operator.process import Leadership
from infraagent.operator.runs import AgentRunRecorder

from .conftest import REPO, ControlPlane

LEASE = 2.0
RENEW = 0.5
SLACK = 1.0  # process wake-up and loopback requests on a busy CI machine
API = "core.infraagent.io/v1alpha1"


@dataclass
class Replica:
    identity: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 8.0) -> int:
        """SIGTERM; the exit status (fails the test if it does not exit in time)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.identity} did not exit after SIGTERM:\n{self.stderr()}")


def _delete_policy(kube_api: Any) -> None:
    adm = client.AdmissionregistrationV1Api(kube_api)
    for delete in (
        lambda: adm.delete_validating_admission_policy_binding(BINDING_NAME),
        lambda: adm.delete_validating_admission_policy(POLICY_NAME),
    ):
        with contextlib.suppress(ApiException):
            delete()


def _policy_exists(kube_api: Any) -> bool:
    try:
        client.AdmissionregistrationV1Api(kube_api).read_validating_admission_policy(
            POLICY_NAME, _preload_content=False
        )
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as kube_client:
        yield kube_client


@pytest.fixture
def no_policy(kube_api: Any) -> Iterator[None]:
    """No admission policy before the test (so its presence proves the leader's work), nor after."""
    _delete_policy(kube_api)
    try:
        yield
    finally:
        _delete_policy(kube_api)


@pytest.fixture
def spawn(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[Callable[[str], Replica]]:
    """Start ``infraagent operator`` processes; any still running at the end are killed."""
    started: list[Replica] = []
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}

    def _spawn(identity: str) -> Replica:
        argv = [sys.executable, "-m", "infraagent.cli.main", "operator"]
        argv += ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", namespace]
        argv += ["--identity", identity, "--lease-duration", str(int(LEASE))]
        argv += ["--renew-every", str(RENEW)]
        log = tmp_path / f"operator-{identity}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=REPO, env=env
            )
        started.append(Replica(identity, proc, log))
        return started[-1]

    try:
        yield _spawn
    finally:
        for replica in started:
            if replica.proc.poll() is None:
                replica.proc.kill()
                replica.proc.wait(timeout=10)


def _holder(kube_api: Any, namespace: str) -> str | None:
    try:
        raw = client.CoordinationV1Api(kube_api).read_namespaced_lease(
            DEFAULT_LEASE_NAME, namespace, _preload_content=False
        )
    except ApiException as err:
        if err.status == 404:
            return None
        raise
    holder = json.loads(raw.data).get("spec", {}).get("holderIdentity")
    return holder if isinstance(holder, str) else None


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``predicate`` holds; the seconds it took. Fails after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if predicate():
            return time.monotonic() - began
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout:.1f}s")


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _running_run(kube: KubeClient, namespace: str) -> str:
    """An AgentRun left Running, as a replica that died mid-run leaves it."""
    doc = yaml.safe_load((REPO / "agents/hello-world.yaml").read_text(encoding="utf-8"))
    doc["metadata"] = {"name": "orphaned", "namespace": namespace}
    recorder = AgentRunRecorder(kube, _WallClock())
    return recorder.start(InfraAgent.model_validate(doc), Trigger.MANUAL, None)


def _phase(kube: KubeClient, namespace: str, name: str) -> str:
    return str(kube.get(API, "AgentRun", name, namespace).get("status", {}).get("phase"))


@pytest.mark.usefixtures("no_policy")
def test_two_operator_processes_hand_over_the_lease_on_sigterm(
    spawn: Callable[[str], Replica], kube: KubeClient, kube_api: Any, namespace: str
) -> None:
    orphan = _running_run(kube, namespace)
    assert _phase(kube, namespace, orphan) == "Running"
    replicas = {who: spawn(who) for who in ("a", "b")}

    wait_for(lambda: _holder(kube_api, namespace) in replicas, 15, "a holder")
    leader = replicas[str(_holder(kube_api, namespace))]
    other = replicas["b" if leader.identity == "a" else "a"]
    for _ in range(6):  # about 1.5 s: several renewals of the one and attempts of the other
        assert _holder(kube_api, namespace) == leader.identity
        assert leader.proc.poll() is None and other.proc.poll() is None
        time.sleep(0.25)
    assert "leading" not in other.stderr()

    # The leader's duties on taking over.
    wait_for(lambda: _phase(kube, namespace, orphan) == "Interrupted", 10, "orphan closed")
    wait_for(lambda: _policy_exists(kube_api), 10, "admission policy in place")

    stopped_at = time.monotonic()
    assert leader.terminate() == 0, leader.stderr()
    exited = time.monotonic() - stopped_at
    assert "released" in leader.stderr()
    wait_for(lambda: _holder(kube_api, namespace) == other.identity, LEASE + RENEW + SLACK, "b")
    handover = time.monotonic() - stopped_at
    print(f"\nleader exited {exited:.2f}s after SIGTERM; handover {handover:.2f}s (lease {LEASE}s)")
    assert handover <= LEASE + RENEW + SLACK
    wait_for(lambda: ": leading" in other.stderr(), 5, "the new leader logs it")

    assert other.terminate() == 0, other.stderr()
    assert "released" in other.stderr()
    assert _holder(kube_api, namespace) is None


def _job_for(kube: KubeClient, namespace: str, run: str) -> None:
    """The Job executing ``run`` (``runner: job``), as the launcher names it; not finished."""
    pod = {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox:1.36"}]}
    kube.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": run, "namespace": namespace},
            "spec": {"backoffLimit": 0, "template": {"spec": pod}},
        }
    )


@pytest.mark.usefixtures("no_policy")
def test_a_new_leader_spares_the_runs_a_live_job_still_executes(
    kube: KubeClient, namespace: str
) -> None:
    orphan, executing = _running_run(kube, namespace), _running_run(kube, namespace)
    _job_for(kube, namespace, executing)
    lines: list[str] = []
    leadership = Leadership(
        kube, _WallClock(), timedelta(hours=1), lines.append, owner_alive=job_alive(kube)
    )
    leadership.started()
    try:
        wait_for(lambda: leadership.accepting, 15, "the take-over")
    finally:
        leadership.stopped()
    assert _phase(kube, namespace, orphan) == "Interrupted"
    assert _phase(kube, namespace, executing) == "Running"  # its Job will finish it
    # without owner_alive every open run is the dead leader's
    again = Leadership(kube, _WallClock(), timedelta(hours=1), lines.append)
    again.started()
    try:
        wait_for(lambda: again.accepting, 15, "the second take-over")
    finally:
        again.stopped()
    assert _phase(kube, namespace, executing) == "Interrupted"
