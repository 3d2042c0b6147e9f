"""``runner: job`` on the real API server: the Job is created with exactly the intended spec,
its command run locally as the agent's ServiceAccount (a TokenRequest token) completes the
AgentRun through the admission policy, and a Job that disappears fails the run.

There is no kubelet here: the pod never starts, so the test plays the pod by running the
Job's own command line as a local process with the pod's identity and environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.admission import MESSAGE_PREFIX, admission_policy, agent_username
from infraagent.cli.run_cluster import cluster_launcher
from infraagent.errors import KubeError, KubeForbidden, KubeNotFound
from infraagent.identity import service_account_name
from infraagent.models.agentrun import AgentRun, Outcome, RunPhase
from infraagent.models.common import GROUP_VERSION
from infraagent.models.keys import skill_configmap_name
from infraagent.operator.execute import fail_run
from infraagent.operator.jobs import JobLauncher, job_alive
from infraagent.operator.process import remove_stale_run_bindings, take_over
from infraagent.operator.run_job import JobSettings, cluster_binding_name, key_secret_name
from infraagent.ports import RunOutcome, RunRequest

from .conftest import REPO, ControlPlane
from .test_execute_support import (
    AGENT,
    KEY,
    REPORT,
    RESTARTED_AT,
    Fleet,
    agent_manifest,
    fleet,
    kubectl,
)

__all__ = ["fleet"]  # the fixture
IMAGE = "registry.example.com/infraagent/operator:1.4.2"
WAIT = 60.0  # a safety net against a hung test, never what a test measures
RBAC = "rbac.authorization.k8s.io/v1"


@pytest.fixture(scope="module")
def policy(control_plane: ControlPlane, crds: list[str]) -> Iterator[None]:
    """InfraAgent's admission policy, installed and effective."""
    from infraagent.adapters.kube.client import KubeClient

    with KubeClient.from_kubeconfig(control_plane.kubeconfig) as admin:
        docs = admission_policy()
        for doc in docs:
            admin.apply(doc)
        try:
            yield
        finally:
            for doc in reversed(docs):
                with contextlib.suppress(KubeError):
                    admin.delete(doc["apiVersion"], doc["kind"], doc["metadata"]["name"])


def _wait_effective(fleet: Fleet) -> None:
    """Policies load asynchronously: wait until an agent's write to InfraAgent's group is
    refused by the policy (the agent ``probe`` may create AgentEnvironments by RBAC)."""
    ns, probe = fleet.namespace, service_account_name("probe")
    for obj in _probe_rbac(ns, probe):
        fleet.admin.apply(obj)
    environment = {
        "apiVersion": GROUP_VERSION,
        "kind": "AgentEnvironment",
        "metadata": {"name": "probe", "namespace": ns},
        "spec": {"connection": {"kind": "in-cluster"}},
    }
    with fleet.admin.impersonating(agent_username(ns, "probe")) as agent:
        for _ in range(int(WAIT / 0.25)):
            try:
                agent.create(environment)
            except KubeForbidden as err:
                assert MESSAGE_PREFIX in str(err)
                return
            fleet.admin.delete(GROUP_VERSION, "AgentEnvironment", "probe", ns)
            threading.Event().wait(0.25)
    pytest.fail("the admission policy did not become effective")


def _role(ns: str, name: str, rule: dict[str, Any], account: str) -> list[dict[str, Any]]:
    """A Role with one rule and its binding to the ServiceAccount ``account``."""
    subject = {"kind": "ServiceAccount", "name": account, "namespace": ns}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    meta = {"name": name, "namespace": ns}
    return [
        {"apiVersion": RBAC, "kind": "Role", "metadata": meta, "rules": [rule]},
        {"apiVersion": RBAC, "kind": "RoleBinding", "metadata": meta, "roleRef": ref,
         "subjects": [subject]},
    ]  # fmt: skip


def _probe_rbac(ns: str, account: str) -> list[dict[str, Any]]:
    rule = {"apiGroups": ["core.infraagent.io"], "resources": ["*"], "verbs": ["create"]}
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": account, "namespace": ns},
    }
    return [sa, *_role(ns, "probe", rule, account)]


@dataclass
class Watch:
    """The launcher's callbacks and a pause that says when the Job exists."""

    polled: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    started: list[str] = field(default_factory=list)
    done: list[RunOutcome] = field(default_factory=list)

    def on_started(self, request: RunRequest, name: str) -> None:
        self.started.append(name)

    def on_done(self, request: RunRequest, outcome: RunOutcome) -> None:
        self.done.append(outcome)
        self.ended.set()

    def pause(self, seconds: float) -> bool:
        self.polled.set()  # the Job was created and the run watched once
        threading.Event().wait(0.05)
        return False


def _launch(fleet: Fleet, watch: Watch) -> str:
    launcher = JobLauncher(fleet.admin, fleet.clock, JobSettings(IMAGE), pause=watch.pause)
    now = datetime.now(UTC)
    request = RunRequest(fleet.namespace, AGENT, "scheduled", now, scheduled_time=now)
    launcher.launch(request, watch.on_started, watch.on_done)
    assert watch.polled.wait(WAIT) or watch.ended.wait(0), "the launcher never watched the Job"
    return watch.started[0]


def _job_as_agent_run(fleet: Fleet, kubeconfig: Path, run: str) -> subprocess.CompletedProcess[str]:
    """The Job's command line, as the pod would run it (its identity, its key variable)."""
    job = fleet.admin.get("batch/v1", "Job", run, fleet.namespace)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["infraagent"]
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY") and k != "KUBECONFIG"}
    env[container["env"][0]["name"]] = KEY  # what secretKeyRef would inject
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, "-m", "infraagent.cli.main", *container["args"]]
    argv += ["--kubeconfig", str(kubeconfig)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def _service_account_kubeconfig(control_plane: ControlPlane, fleet: Fleet, tmp_path: Path) -> Path:
    """A kubeconfig holding a TokenRequest token of the agent's ServiceAccount."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        request = {"spec": {"audiences": [], "expirationSeconds": 3600}}
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            service_account_name(AGENT), fleet.namespace, request
        )
    finally:
        api.close()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    admin["users"] = [{"name": "agent", "user": {"token": token.status.token}}]
    cluster = admin["clusters"][0]["name"]
    admin["contexts"] = [{"name": "agent", "context": {"cluster": cluster, "user": "agent"}}]
    admin["current-context"] = "agent"
    path = tmp_path / "agent.kubeconfig"
    path.write_text(yaml.safe_dump(admin))
    path.chmod(0o600)
    return path


def test_the_job_runs_as_the_agent_without_privileges(fleet: Fleet, policy: None) -> None:
    watch = Watch()
    with fleet.serve([REPORT]):
        run = _launch(fleet, watch)
        job = fleet.admin.get("batch/v1", "Job", run, fleet.namespace)
    spec = job["spec"]
    # created suspended, resumed once its key Secret and access exist (created owned by it)
    assert spec["suspend"] is False
    assert job["metadata"]["generation"] == 2
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 300 + 60)
    assert spec["ttlSecondsAfterFinished"] == 3600
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "infraagent-agent-keeper"
    assert pod["automountServiceAccountToken"] is True and pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["args"] == ["run", "--agent-run", run, "--namespace", fleet.namespace]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    key_ref = {"name": key_secret_name(run), "key": "api-key"}
    assert container["env"] == [
        {"name": "ANTHROPIC_API_KEY", "valueFrom": {"secretKeyRef": key_ref}}
    ]
    assert KEY not in json.dumps(job)
    owners = {
        kind: fleet.admin.get(api, kind, name, fleet.namespace)["metadata"]["ownerReferences"]
        for api, kind, name in [
            ("v1", "Secret", key_secret_name(run)),
            (RBAC, "Role", run),
            (RBAC, "RoleBinding", run),
        ]
    }
    assert all(refs[0]["uid"] == job["metadata"]["uid"] for refs in owners.values())
    pending = AgentRun.model_validate(fleet.agentrun(run))
    assert pending.status is None or pending.status.phase in (None, RunPhase.PENDING)
    assert job_alive(fleet.admin)(fleet.agentrun(run)) is True
    fleet.admin.delete("batch/v1", "Job", run, fleet.namespace)  # ends the watch
    assert watch.ended.wait(WAIT)


def test_the_jobs_command_completes_the_agentrun(
    control_plane: ControlPlane, fleet: Fleet, policy: None, tmp_path: Path
) -> None:
    _wait_effective(fleet)
    ns = fleet.namespace
    turns = [
        kubectl(f"get pods -n {ns}"),
        kubectl(f"rollout restart deployment/web -n {ns}"),
        kubectl(f"get leases -n {ns}"),
        REPORT,
    ]
    watch = Watch()
    with fleet.serve(turns) as server:
        run = _launch(fleet, watch)
        kubeconfig = _service_account_kubeconfig(control_plane, fleet, tmp_path)
        pod = _job_as_agent_run(fleet, kubeconfig, run)
        assert pod.returncode == 0, pod.stdout + pod.stderr
        assert watch.ended.wait(WAIT)
    assert len(server.requests) == 4
    assert watch.done == [RunOutcome(run, "Succeeded")]
    raw = fleet.agentrun(run)
    status = AgentRun.model_validate(raw).status
    assert status is not None and status.phase is RunPhase.SUCCEEDED
    assert status.scheduleLagMs is not None and status.usage is not None
    assert status.usage.totalTokens > 0
    outcomes = [entry.outcome for entry in status.ledger]
    assert outcomes == [Outcome.EXECUTED, Outcome.EXECUTED, Outcome.FAILED]
    assert RESTARTED_AT in fleet.annotations()
    assert "(Forbidden)" in status.ledger[2].result and fleet.username in status.ledger[2].result
    assert KEY not in json.dumps(raw)
    # the key and the cluster-wide binding are gone as soon as the run is over
    with pytest.raises(KubeNotFound):
        fleet.admin.get("v1", "Secret", key_secret_name(run), ns)
    with pytest.raises(KubeNotFound):
        fleet.admin.get(RBAC, "ClusterRoleBinding", cluster_binding_name(ns, run))
    # the command again: the run is final, nothing is executed twice
    assert _job_as_agent_run(fleet, kubeconfig, run).returncode == 0
    assert len(server.requests) == 4


def _copy_of(fleet: Fleet, run: str, agent: str) -> str:
    """A new AgentRun like ``run`` but of ``agent``; its name."""
    spec = {**fleet.agentrun(run)["spec"], "agentRef": agent}
    meta = {"generateName": f"{agent}-", "namespace": fleet.namespace}
    created = fleet.admin.create({"apiVersion": GROUP_VERSION, "kind": "AgentRun",
                                  "metadata": meta, "spec": spec})  # fmt: skip
    return str(created["metadata"]["name"])


def _all_run_statuses(ns: str) -> list[dict[str, Any]]:
    rule = {"apiGroups": ["core.infraagent.io"], "resources": ["agentruns/status"],
            "verbs": ["get", "patch"]}  # fmt: skip
    return _role(ns, "all-runs", rule, service_account_name(AGENT))


def test_the_agent_writes_only_its_own_runs_status(fleet: Fleet, policy: None) -> None:
    _wait_effective(fleet)
    ns, running = fleet.namespace, {"phase": "Running"}
    watch = Watch()
    with fleet.serve([REPORT]):
        run = _launch(fleet, watch)
    sibling, intruder = _copy_of(fleet, run, AGENT), _copy_of(fleet, run, "intruder")
    with fleet.admin.impersonating(fleet.username) as agent:
        agent.patch_status(GROUP_VERSION, "AgentRun", run, running, ns)
        with pytest.raises(KubeForbidden):  # RBAC: the per-run Role names this run only
            agent.patch_status(GROUP_VERSION, "AgentRun", sibling, running, ns)
        with pytest.raises(KubeForbidden):  # and no write to the record itself
            agent.apply({**fleet.agentrun(run), "metadata": {"name": run, "namespace": ns}})
        # layer 3 alone: with RBAC wide open on run statuses, admission still allows only
        # the runs of the agent itself
        for obj in _all_run_statuses(ns):
            fleet.admin.apply(obj)
        agent.patch_status(GROUP_VERSION, "AgentRun", sibling, running, ns)
        with pytest.raises(KubeForbidden) as refused:
            agent.patch_status(GROUP_VERSION, "AgentRun", intruder, running, ns)
        assert MESSAGE_PREFIX + "agents never create, change or delete InfraAgent" in str(
            refused.value
        )
    fleet.admin.delete("batch/v1", "Job", run, ns)
    assert watch.ended.wait(WAIT)
    assert watch.done == [RunOutcome(run, "Failed")]
    status = AgentRun.model_validate(fleet.agentrun(run)).status
    assert status is not None and status.reason == "JobGone"


def test_a_missing_skill_fails_the_run_without_a_job(fleet: Fleet) -> None:
    fleet.admin.delete("v1", "ConfigMap", skill_configmap_name("ops"), fleet.namespace)
    watch = Watch()
    with fleet.serve([REPORT]):
        launcher = JobLauncher(fleet.admin, fleet.clock, JobSettings(IMAGE), pause=watch.pause)
        request = RunRequest(fleet.namespace, AGENT, "manual", datetime.now(UTC))
        launcher.launch(request, watch.on_started, watch.on_done)
        assert watch.ended.wait(WAIT)
    run = watch.started[0]
    assert watch.done == [RunOutcome(run, "Failed")]
    status = AgentRun.model_validate(fleet.agentrun(run)).status
    assert status is not None and status.reason == "SkillNotFound"
    with pytest.raises(KubeNotFound):
        fleet.admin.get("batch/v1", "Job", run, fleet.namespace)


def test_each_run_goes_where_its_agents_runner_says(fleet: Fleet, tmp_path: Path) -> None:
    switch = cluster_launcher(
        fleet.admin, fleet.clock, concurrency=1, job_settings=JobSettings(IMAGE), workdir=tmp_path
    )
    watch = Watch()
    request = RunRequest(fleet.namespace, AGENT, "manual", datetime.now(UTC))
    with fleet.serve([REPORT]):
        switch.launch(request, watch.on_started, watch.on_done)  # runner: inprocess (default)
        assert watch.ended.wait(WAIT)
        assert watch.done[0].phase == "Succeeded"
        with pytest.raises(KubeNotFound):
            fleet.admin.get("batch/v1", "Job", watch.started[0], fleet.namespace)

        agent = agent_manifest(fleet.namespace)
        fleet.admin.apply({**agent, "spec": {**agent["spec"], "runner": "job"}})
        watch.ended.clear()
        switch.launch(request, watch.on_started, watch.on_done)
        job = _wait_for_job(fleet, watch)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "infraagent-agent-keeper"
    assert switch.drain(WAIT) == frozenset()  # the Job's run is not this process's to close
    assert watch.done[1] == RunOutcome(watch.started[1], "Pending")  # still the Job's
    # the Job goes on, so its key stays (the Job owns it)
    assert fleet.admin.get("v1", "Secret", key_secret_name(watch.started[1]), fleet.namespace)


def _wait_for_job(fleet: Fleet, watch: Watch) -> dict[str, Any]:
    """The second run's Job, once the launcher created it (nothing to pause here)."""
    for _ in range(int(WAIT / 0.1)):
        if len(watch.started) > 1:
            with contextlib.suppress(KubeNotFound):
                return fleet.admin.get("batch/v1", "Job", watch.started[1], fleet.namespace)
        threading.Event().wait(0.1)
    pytest.fail("the Job was never created")


def test_a_job_that_cannot_be_created_leaves_nothing_behind(fleet: Fleet) -> None:
    # requests above limits: the API server refuses the Job after the run's access was written
    settings = JobSettings(IMAGE, requests={"cpu": "2", "memory": "256Mi"})
    watch = Watch()
    with fleet.serve([REPORT]):
        launcher = JobLauncher(fleet.admin, fleet.clock, settings, pause=watch.pause)
        request = RunRequest(fleet.namespace, AGENT, "manual", datetime.now(UTC))
        launcher.launch(request, watch.on_started, watch.on_done)
        assert watch.ended.wait(WAIT)
    run, ns = watch.started[0], fleet.namespace
    assert watch.done == [RunOutcome(run, "Failed")]
    status = AgentRun.model_validate(fleet.agentrun(run)).status
    assert status is not None and status.reason == "JobNotCreated"
    assert "Invalid" in (status.report or "") or "invalid" in (status.report or "")
    for api, kind, name, where in [
        ("batch/v1", "Job", run, ns),
        (RBAC, "Role", run, ns),
        (RBAC, "RoleBinding", run, ns),
        ("v1", "Secret", key_secret_name(run), ns),
        (RBAC, "ClusterRoleBinding", cluster_binding_name(ns, run), None),
    ]:
        with pytest.raises(KubeNotFound):
            fleet.admin.get(api, kind, name, where)
    assert launcher.open_runs == frozenset()


def _left_by_a_drained_launcher(fleet: Fleet) -> str:
    """A run whose Job was created and whose watch then stopped, as ``drain`` leaves it."""
    watch = Watch()
    launcher = JobLauncher(fleet.admin, fleet.clock, JobSettings(IMAGE), pause=lambda seconds: True)
    request = RunRequest(fleet.namespace, AGENT, "manual", datetime.now(UTC))
    launcher.launch(request, watch.on_started, watch.on_done)
    assert watch.ended.wait(WAIT)
    run = watch.started[0]
    assert watch.done == [RunOutcome(run, "Pending")]
    return run


def _binding_exists(fleet: Fleet, run: str) -> bool:
    try:
        fleet.admin.get(RBAC, "ClusterRoleBinding", cluster_binding_name(fleet.namespace, run))
    except KubeNotFound:
        return False
    return True


def test_a_new_leader_removes_the_bindings_of_runs_that_are_over(fleet: Fleet) -> None:
    ns = fleet.namespace
    with fleet.serve([REPORT]):
        finished, live, deleted, dead = (_left_by_a_drained_launcher(fleet) for _ in range(4))
    assert all(_binding_exists(fleet, run) for run in (finished, live, deleted, dead))
    fail_run(fleet.admin, fleet.clock, finished, ns, reason="Done", message="the pod ended it")
    fleet.admin.delete(GROUP_VERSION, "AgentRun", deleted, ns)
    fleet.admin.delete("batch/v1", "Job", dead, ns)  # its process is gone: the run is orphaned
    stranger = {  # labelled like a run's binding, but not named like one: not ours to judge
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"other-{ns}", "labels": {"infraagent.io/agent-run": "x"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}],
    }  # fmt: skip
    fleet.admin.apply(stranger)
    try:
        result = take_over(fleet.admin, fleet.clock.now(), job_alive(fleet.admin))
        assert dead in result.interrupted and live not in result.interrupted
        assert _phase(fleet, live) in (None, "Pending")
        assert _phase(fleet, dead) == "Interrupted"
        assert _of(ns, result.bindings) == {
            cluster_binding_name(ns, run) for run in (finished, deleted, dead)
        }
        assert _binding_exists(fleet, live)
        assert not any(_binding_exists(fleet, run) for run in (finished, deleted, dead))
        fleet.admin.get(RBAC, "ClusterRoleBinding", f"other-{ns}")
        # the live run's binding stays until that run is over too
        assert _of(ns, remove_stale_run_bindings(fleet.admin)) == set()
        fail_run(fleet.admin, fleet.clock, live, ns, reason="Done", message="the pod ended it")
        assert _of(ns, remove_stale_run_bindings(fleet.admin)) == {cluster_binding_name(ns, live)}
    finally:
        fleet.admin.delete(RBAC, "ClusterRoleBinding", f"other-{ns}")
        for doc in reversed(admission_policy()):  # take_over installed it
            with contextlib.suppress(KubeError):
                fleet.admin.delete(doc["apiVersion"], doc["kind"], doc["metadata"]["name"])


def _phase(fleet: Fleet, run: str) -> str | None:
    return (fleet.agentrun(run).get("status") or {}).get("phase")


def _of(namespace: str, bindings: list[str]) -> set[str]:
    """The per-run bindings of runs in ``namespace`` (other tests' runs may be swept too)."""
    return {name for name in bindings if name.startswith(f"infraagent-run:{namespace}:")}
