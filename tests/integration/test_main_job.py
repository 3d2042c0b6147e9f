"""The main job end to end: ``infraagent reconcile`` on the real API server with real Git.

- ``--once`` over this repository's own fleet: every example agent runs once under the
  guardrails with the scripted model, its status is exact, the proposal of the one agent
  whose mutation exceeds its autonomy is recorded (not executed), and every run's summary
  lands on the runs branch in one commit.
- Serving: two processes compete for the Lease; only the leader runs agents; a leader
  killed mid-way is replaced within the lease duration, the run it left open is marked
  Interrupted by the new leader, no run is executed twice, and a later run proceeds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.adapters.kube import KubeClient
from infraagent.cli.main import main
from infraagent.errors import KubeNotFound
from infraagent.models.keys import RUN_NOW_ANNOTATION

from .conftest import REPO, ControlPlane
from .gitserver import branch_files, commit_files, git, make_bare_repo

GV = "core.infraagent.io/v1alpha1"
AGENTS = sorted(
    yaml.safe_load(p.read_text(encoding="utf-8"))["metadata"]["name"]
    for p in (REPO / "agents").glob("*.yaml")
)


@pytest.fixture
def kube(control_plane: ControlPlane, crds: list[str]) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as client:
        yield client


@pytest.fixture(autouse=True)
def _own_tiers(kube: KubeClient, namespace: str) -> Iterator[None]:
    """Each test's ModelTierConfig is cluster-scoped: removed afterwards, so runs of later
    tests (which take the first config that maps their tier) never resolve to it."""
    yield
    with contextlib.suppress(KubeNotFound):
        kube.delete(GV, "ModelTierConfig", f"t-{namespace}")


def _fleet(namespace: str) -> dict[str, str]:
    """This repository's fleet; its cluster-scoped tier config renamed for this test."""
    files = {}
    for folder in ("agents", "environments", "skills"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file():
                files[path.relative_to(REPO).as_posix()] = path.read_text(encoding="utf-8")
    tiers = files["environments/model-tiers.yaml"]
    files["environments/model-tiers.yaml"] = tiers.replace("name: default", f"name: t-{namespace}")
    return files


def _runs(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    return kube.list(GV, "AgentRun", namespace).items


def test_once_runs_every_example_agent_and_commits_each_summary(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = make_bare_repo(tmp_path, "fleet.git", _fleet(namespace))
    argv = ["reconcile", "--once", "--kubeconfig", str(control_plane.kubeconfig),
            "--repo", str(bare), "--namespace", namespace, "--llm", "scripted",
            "--workdir", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out

    runs = _runs(kube, namespace)
    by_agent = {run["spec"]["agentRef"]: run for run in runs}
    assert sorted(by_agent) == AGENTS and len(runs) == len(AGENTS), "one run per agent"
    for name, run in by_agent.items():
        assert run["status"]["phase"] == "Succeeded", (name, run["status"].get("message"))
        assert run["spec"]["trigger"] == "manual"
        assert run["status"]["usage"]["totalTokens"] > 0
        assert run["metadata"]["name"] in out, "the table names every run"
        agent = kube.get(GV, "InfraAgent", name, namespace)
        assert agent["status"]["runCount"] == 1
        assert agent["status"]["lastRunName"] == run["metadata"]["name"]
        assert agent["status"]["consecutiveFailures"] == 0

    proposals = by_agent["watchman-light"]["status"]["proposals"]
    assert len(proposals) == 1 and proposals[0]["tier"] == "destructive-mutation"
    assert "Proposals waiting for a human (1)" in out
    executed = [e for e in by_agent["watchman-light"]["status"]["ledger"]
                if e["outcome"] == "executed" and e["tier"] != "read"]  # fmt: skip
    assert executed == [], "a proposal is never executed"

    log = git("log", "--format=%H %s", "infraagent/runs", cwd=bare).splitlines()
    assert len(log) == 1, "one commit for the whole pass"
    files = branch_files(bare, "infraagent/runs")
    assert sorted(files) == sorted(
        f"runs/{r['spec']['agentRef']}/{r['status']['startTime'][:10]}/{r['metadata']['name']}.md"
        for r in runs
    )
    trailers = git("log", "-1", "--format=%B", "infraagent/runs", cwd=bare)
    assert all(f"Infraagent-Run: {namespace}/{r['metadata']['name']}" in trailers for r in runs)
    assert git("rev-parse", "main", cwd=bare).strip() != log[0].split()[0], "main untouched"


# ----------------------------------------------------------------------- serving

PULSE = """apiVersion: core.infraagent.io/v1alpha1
kind: InfraAgent
metadata:
  name: pulse
spec:
  description: checks that the lab answers
  schedule: {interval: 30m}
  model: {tier: fast, tokenBudget: 20000}
  skills: [{name: hello-world}]
  guardrails: {autonomy: observe}
  environmentRef: dev-lab
"""


class _Replica:
    """One ``infraagent reconcile`` process serving the fleet; its output collected."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(argv, stdout=self._file, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def leading(self) -> bool:
        return "leading: taking over" in self.output()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=90)
        self._file.close()
        return code


def _wait(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for: {what}")


def _running_run(kube: KubeClient, namespace: str) -> str:
    """An AgentRun left Running, as a replica killed in the middle of a run leaves it."""
    created = kube.create({
        "apiVersion": GV, "kind": "AgentRun",
        "metadata": {"generateName": "pulse-", "namespace": namespace,
                     "labels": {"infraagent.io/agent": "pulse"}},
        "spec": {"agentRef": "pulse", "environmentRef": "dev-lab", "trigger": "scheduled"},
    })  # fmt: skip
    name: str = created["metadata"]["name"]
    status = {"phase": "Running", "startTime": "2026-01-01T00:00:00Z"}
    kube.patch_status(GV, "AgentRun", name, status, namespace)
    return name


def _phases(kube: KubeClient, namespace: str) -> dict[str, str]:
    return {
        r["metadata"]["name"]: str((r.get("status") or {}).get("phase"))
        for r in _runs(kube, namespace)
    }


def test_one_leader_runs_agents_and_a_killed_leader_is_replaced_without_a_second_run(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    files = {k: v for k, v in _fleet(namespace).items() if not k.startswith("agents/")}
    bare = make_bare_repo(tmp_path, "fleet.git", {**files, "agents/pulse.yaml": PULSE})

    def replica(name: str) -> _Replica:
        argv = [sys.executable, "-m", "infraagent.cli.main", "reconcile",
                "--kubeconfig", str(control_plane.kubeconfig), "--repo", str(bare),
                "--namespace", namespace, "--operator-namespace", namespace,
                "--llm", "scripted", "--identity", name, "--metrics-port", "-1",
                "--workdir", str(tmp_path / f"cache-{name}")]  # fmt: skip
        return _Replica(argv, tmp_path / f"{name}.log")

    first = replica("first")
    second: _Replica | None = None
    try:
        _wait("the first replica leads", first.leading)
        _wait("pulse ran once", lambda: list(_phases(kube, namespace).values()) == ["Succeeded"])
        ran = next(iter(_phases(kube, namespace)))
        second = replica("second")
        _wait("the second replica started", lambda: "Serving as second" in second.output())
        time.sleep(3)
        assert not second.leading(), "two leaders at once"
        lease = kube.get("coordination.k8s.io/v1", "Lease", "infraagent-operator", namespace)
        assert lease["spec"]["holderIdentity"] == "first"

        left_open = _running_run(kube, namespace)
        first.stop(signal.SIGKILL)  # dies without releasing the Lease or closing anything
        started = time.monotonic()
        _wait("the second replica takes over", second.leading, timeout=45)
        handover = time.monotonic() - started
        assert handover < 30, f"handover took {handover:.0f}s"
        _wait("the open run is closed", lambda: _phases(kube, namespace)[left_open] != "Running")
        time.sleep(3)  # the new leader's scheduler has seen pulse: it must not run it again
        phases = _phases(kube, namespace)
        assert phases == {ran: "Succeeded", left_open: "Interrupted"}, phases

        patch = {"metadata": {"annotations": {RUN_NOW_ANNOTATION: "1"}}}
        kube.patch(GV, "InfraAgent", "pulse", patch, namespace)
        _wait("a later run succeeds", lambda: list(_phases(kube, namespace).values()).count(
            "Succeeded") == 2)  # fmt: skip
        agent = kube.get(GV, "InfraAgent", "pulse", namespace)
        assert agent["status"]["runCount"] == 2
        assert RUN_NOW_ANNOTATION not in (agent["metadata"].get("annotations") or {})
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            code = second.stop()
            assert code == 0, second.output()[-2000:]
    lease = kube.get("coordination.k8s.io/v1", "Lease", "infraagent-operator", namespace)
    assert not lease["spec"].get("holderIdentity"), "the Lease is released on SIGTERM"
    assert "leading: taking over" not in first.output().split("Serving as first")[0]


def _post(url: str, body: bytes, signature: str) -> int:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature,
                 "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_a_signed_push_reconciles_a_fleetsource_at_once_and_its_runs_reach_its_runs_branch(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    files = {k: v for k, v in _fleet(namespace).items() if not k.startswith("agents/")}
    bare = make_bare_repo(tmp_path, "fleet.git", {**files, "agents/pulse.yaml": PULSE})
    secret = b"push-secret-for-the-test"
    kube.apply({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "hook", "namespace": namespace},
                "data": {"token": base64.b64encode(secret).decode()}})  # fmt: skip
    kube.apply({"apiVersion": GV, "kind": "FleetSource",
                "metadata": {"name": "fleet", "namespace": namespace},
                "spec": {"url": bare.as_uri(), "interval": "24h", "runsBranch": "runs",
                         "webhook": {"secretRef": {"name": "hook"}}}})  # fmt: skip
    argv = [sys.executable, "-m", "infraagent.cli.main", "reconcile",
            "--kubeconfig", str(control_plane.kubeconfig), "--namespace", namespace,
            "--operator-namespace", namespace, "--llm", "scripted", "--identity", "hooked",
            "--webhook-port", "0", "--webhook-host", "127.0.0.1", "--metrics-port", "0",
            "--workdir", str(tmp_path / "cache")]  # fmt: skip
    replica = _Replica(argv, tmp_path / "hooked.log")
    try:
        _wait("the replica leads", replica.leading)
        _wait("pulse applied and run", lambda: list(_phases(kube, namespace).values()) == [
            "Succeeded"])  # fmt: skip
        port = re.search(r"Webhooks: http://127\.0\.0\.1:(\d+)/", replica.output())
        assert port is not None, replica.output()
        hook = f"http://127.0.0.1:{port.group(1)}/hooks/fleet/{namespace}/fleet"

        commit_files(bare, {"agents/beacon.yaml": PULSE.replace("pulse", "beacon")})
        body = b'{"ref": "refs/heads/main"}'
        assert _post(hook, body, "sha256=" + "0" * 64) == 401
        time.sleep(2)
        names = {a["metadata"]["name"] for a in kube.list(GV, "InfraAgent", namespace).items}
        assert names == {"pulse"}, "a badly signed push reconciles nothing"

        good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        sent = time.monotonic()
        assert _post(hook, body, good) == 202
        _wait("beacon applied", lambda: any(
            a["metadata"]["name"] == "beacon"
            for a in kube.list(GV, "InfraAgent", namespace).items), timeout=20)  # fmt: skip
        print(f"signed push → agent applied in {time.monotonic() - sent:.2f}s (poll: 24h)")

        agents_hook = f"http://127.0.0.1:{port.group(1)}/hooks/agents/{namespace}"
        kube.apply({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "infraagent-webhook-pulse", "namespace": namespace},
                    "data": {"token": base64.b64encode(secret).decode()}})  # fmt: skip
        assert _post(f"{agents_hook}/pulse", body, good) == 404, "pulse has no webhook trigger"
        triggers = {"spec": {"schedule": {"triggers": [{"type": "webhook"}]}}}
        kube.patch(GV, "InfraAgent", "pulse", triggers, namespace)
        assert _post(f"{agents_hook}/pulse", body, "sha256=" + "1" * 64) == 401
        assert _post(f"{agents_hook}/pulse", body, good) == 202

        def webhook_runs() -> list[dict[str, Any]]:
            return [r for r in _runs(kube, namespace) if r["spec"]["trigger"] == "webhook"]

        def webhook_phases() -> list[object]:
            return [(r.get("status") or {}).get("phase") for r in webhook_runs()]

        _wait("the webhook run ends", lambda: webhook_phases() == ["Succeeded"])
        triggered = webhook_runs()
        assert [r["spec"]["agentRef"] for r in triggered] == ["pulse"]
        metrics_url = re.search(r"Metrics: (http://\S+)", replica.output())
        assert metrics_url is not None
        with urllib.request.urlopen(metrics_url.group(1), timeout=10) as answer:
            exposition = answer.read().decode()
        finished = f'infraagent_runs_finished_total{{agent="pulse",namespace="{namespace}",'
        assert f'{finished}phase="Succeeded",trigger="webhook"}} 1.0' in exposition
        assert 'infraagent_reconciles_total{outcome="applied",' in exposition
    finally:
        code = replica.stop()
    assert code == 0, replica.output()[-2000:]
    summaries = branch_files(bare, "runs")
    run_names = [r["metadata"]["name"] for r in _runs(kube, namespace)]
    assert run_names and all(
        any(path.endswith(f"/{name}.md") for path in summaries) for name in run_names
    ), (sorted(summaries), run_names)
