"""The operator's install RBAC, proven by running the operator's code paths with its own token.

``install_manifests()`` is applied on the real API server; the operator's ServiceAccount then
gets a real token (TokenRequest), and every duty runs through a ``KubeClient`` holding that
token: a reconcile pass of a fleet from a real Git repository (apply, Event, prune), the
identity duty (ServiceAccounts, Roles and bindings with rights the operator does not hold
itself: ``escalate`` and ``bind``), an in-process run with the scripted model whose tool calls
impersonate the agent, a Job-runner launch up to the Job, a summaries cycle into a bare
repository, ``mark_interrupted``, retention, the admission policy put back, the scheduler
fed by a watch, and the leader Lease. A token (not ``Impersonate-User`` from the admin) is
what makes the operator's own impersonation of agents real. Then what it must never do
gets 403.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import yaml

from infraagent.adapters.git import GitRunsPublisher
from infraagent.adapters.kube.lease import DEFAULT_LEASE_NAME, LeaderElector
from infraagent.adapters.kube.watch import Watcher
from infraagent.admission import BINDING_NAME, POLICY_NAME
from infraagent.errors import KubeForbidden
from infraagent.identity import service_account_name
from infraagent.install import LEASE_NAME
from infraagent.models.common import GROUP_VERSION
from infraagent.models.crd import all_crds
from infraagent.models.keys import RUN_NOW_ANNOTATION, skill_configmap_name
from infraagent.operator.admission import ensure_admission_policy
from infraagent.operator.execute import execute_run
from infraagent.operator.identities import IdentitySync
from infraagent.operator.jobs import JobLauncher, job_alive
from infraagent.operator.process import remove_stale_run_bindings, take_over
from infraagent.operator.run_job import JobSettings, cluster_binding_name, key_secret_name
from infraagent.operator.runs import apply_retention, mark_interrupted
from infraagent.operator.scheduling import SchedulingLoop
from infraagent.operator.summaries import SUMMARY_COMMIT_ANNOTATION, publish_summaries
from infraagent.ports import RunOutcome, RunRequest
from infraagent.providers.scripted import ScriptedServer, parse_script
from tests.integration.gitserver import branch_files, commit_files, make_bare_repo

from .test_execute_support import AGENT, KEY, REPORT, RESTARTED_AT, kubectl
from .test_operator_rbac_support import (
    ADMISSION,
    GIT_TOKEN,
    IMAGE,
    RBAC,
    WAIT,
    World,
    apply_as,
    deps,
    git_credentials,
    source_manifest,
    unnamed_namespace,
    world,
)

__all__ = ["world"]  # the fixture


# --------------------------------------------------------------------------- the duties


def test_as_the_operator_a_fleet_is_reconciled_given_identities_run_published_and_pruned(
    world: Callable[[str], World], namespace: str
) -> None:
    ns = namespace
    turns = [kubectl(f"get pods -n {ns}"), kubectl(f"rollout restart deployment/web -n {ns}")]
    turns += [kubectl(f"get leases -n {ns}"), REPORT]
    with ScriptedServer(parse_script(yaml.safe_dump({"turns": turns})), api_key=KEY) as server:
        w = world(server.url)
        applied = w.reconcile()
        assert applied.outcome == "applied", applied.message
        for kind, name, where in (("InfraAgent", AGENT, ns), ("InfraAgent", "spare", ns),
                                  ("AgentEnvironment", "lab", ns),
                                  ("ModelTierConfig", f"tiers-{ns}", None)):  # fmt: skip
            assert w.exists(GROUP_VERSION, kind, name, where), kind
        assert w.exists("v1", "ConfigMap", skill_configmap_name("ops"), ns)
        source = w.admin.get(GROUP_VERSION, "FleetSource", "fleet", ns)
        ready = {c["type"]: c["status"] for c in source["status"]["conditions"]}["Ready"]
        assert ready == "True" and source["status"]["lastAppliedRevision"] == applied.revision
        assert w.admin.list("events.k8s.io/v1", "Event", ns).items, "the operator's Event"

        identities = IdentitySync(w.op, w.operator_namespace)
        synced = identities.sync(w.agents())
        assert synced.problems == [] and sorted(synced.applied) == [f"{ns}/{AGENT}", f"{ns}/spare"]
        # a Role granting what the operator itself may not do (patch Deployments): escalate
        role = w.admin.get(RBAC, "Role", f"infraagent-agent:{ns}:{AGENT}", ns)
        assert {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]} in (
            role["rules"]
        )

        started: list[str] = []
        outcome = execute_run(w.request(), deps(w), started.append)
        assert outcome.phase == "Succeeded" and outcome.run_name == started[0]
        assert len(server.requests) == 4
    run = w.admin.get(GROUP_VERSION, "AgentRun", started[0], ns)
    read, restart, leases = run["status"]["ledger"]
    assert (read["outcome"], restart["outcome"]) == ("executed", "executed")
    assert "web-0" in read["result"]
    deployment = w.admin.get("apps/v1", "Deployment", "web", ns)
    assert RESTARTED_AT in deployment["spec"]["template"]["metadata"]["annotations"]
    # the tool calls ran as the agent: its own RBAC refuses Leases, naming the agent
    assert leases["outcome"] == "failed" and w.agent_user in leases["result"]

    commit_files(w.bare, {}, delete=("agents/spare.yaml",), message="retire spare")
    pruned = w.reconcile()
    assert pruned.outcome == "applied" and pruned.pruned == 1, pruned.message
    assert not w.exists(GROUP_VERSION, "InfraAgent", "spare", ns)
    assert identities.sync(w.agents()).removed == [f"{ns}/spare"]
    assert not w.exists(RBAC, "ClusterRole", f"infraagent-agent:{ns}:spare:read", None)

    runs = make_bare_repo(w.workdir / "remote", "runs.git", {"README.md": "runs\n"})
    publisher = GitRunsPublisher(runs.as_uri(), branch="infraagent/runs", workdir=w.workdir / "rc")
    published = publish_summaries(w.op, publisher, [ns], w.clock.now())
    assert published.commit is not None and published.published == (f"{ns}/{started[0]}",)
    assert published.unmarked == ()
    assert any(path.endswith(f"/{started[0]}.md") for path in branch_files(runs, "infraagent/runs"))
    marked = w.admin.get(GROUP_VERSION, "AgentRun", started[0], ns)["metadata"]["annotations"]
    assert marked[SUMMARY_COMMIT_ANNOTATION] == published.commit

    later = w.clock.now() + timedelta(days=30)
    deleted = apply_retention(w.op, ns, now=later, max_age=timedelta(days=7), keep_per_agent=0)
    assert deleted == [started[0]]
    assert not w.exists(GROUP_VERSION, "AgentRun", started[0], ns)


@dataclass
class _Launches:
    """A ``RunLauncher`` that records each request and ends it at once."""

    requests: list[RunRequest] = field(default_factory=list)

    def launch(
        self,
        request: RunRequest,
        started: Callable[[RunRequest, str], None],
        done: Callable[[RunRequest, RunOutcome], None],
    ) -> None:
        self.requests.append(request)
        started(request, "keeper-manual")
        done(request, RunOutcome("keeper-manual", "Succeeded"))


def _modified_with_run_now(w: World, watcher: Watcher) -> dict[str, Any]:
    """Annotate ``keeper`` as the admin once the operator's watch is open; the MODIFIED event."""
    stop, found = threading.Event(), threading.Event()
    seen: list[dict[str, Any]] = []

    def follow() -> None:
        for event in watcher.events(stop):
            meta = event.object.get("metadata") or {}
            if event.type == "RELISTED" or meta.get("namespace") != w.namespace:
                continue
            if RUN_NOW_ANNOTATION in (meta.get("annotations") or {}):
                seen.append(event.object)
                found.set()
                return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    patch = {"metadata": {"annotations": {RUN_NOW_ANNOTATION: "please"}}}
    w.admin.patch(GROUP_VERSION, "InfraAgent", AGENT, patch, w.namespace)
    assert found.wait(WAIT), "the operator's watch never saw the run-now annotation"
    stop.set()
    return seen[0]


def test_as_the_operator_the_scheduler_watches_takes_run_now_and_writes_status(
    world: Callable[[str], World],
) -> None:
    w = world("http://127.0.0.1:9/")
    assert w.reconcile().outcome == "applied"
    launches = _Launches()
    loop = SchedulingLoop(w.op, launches, w.clock)
    loop.resync()  # list every InfraAgent
    watcher = Watcher(w.op, GROUP_VERSION, "InfraAgent", timeout_seconds=30, poll_seconds=0.5)
    loop.feed("MODIFIED", _modified_with_run_now(w, watcher))
    loop.tick()
    mine = [(r.agent, r.trigger) for r in launches.requests if r.namespace == w.namespace]
    assert mine == [(AGENT, "manual")]
    keeper = w.admin.get(GROUP_VERSION, "InfraAgent", AGENT, w.namespace)
    assert RUN_NOW_ANNOTATION not in (keeper["metadata"].get("annotations") or {})
    assert keeper["status"]["lastRunName"] == "keeper-manual"
    assert keeper["status"]["runCount"] == 1


def test_as_the_operator_a_job_run_is_launched_then_closed_by_a_new_leader(
    world: Callable[[str], World],
) -> None:
    w = world("http://127.0.0.1:9/")
    assert w.reconcile().outcome == "applied"
    ended = threading.Event()
    outcomes: list[RunOutcome] = []

    def done(request: RunRequest, outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        ended.set()

    launcher = JobLauncher(w.op, w.clock, JobSettings(IMAGE), pause=lambda _: True)
    launcher.launch(w.request(), lambda request, name: None, done)
    assert ended.wait(WAIT), "the launch never ended"
    (outcome,) = outcomes
    assert outcome.run_name is not None and outcome.phase == "Pending", outcome
    run, ns = outcome.run_name, w.namespace
    job = w.admin.get("batch/v1", "Job", run, ns)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == service_account_name(AGENT)
    key = w.admin.get("v1", "Secret", key_secret_name(run), ns)
    assert key["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert w.exists(RBAC, "RoleBinding", run, ns)
    binding = cluster_binding_name(ns, run)
    assert w.exists(RBAC, "ClusterRoleBinding", binding, None)

    # a new leader spares the run its live Job executes, and keeps the run's binding
    spared = take_over(w.op, w.clock.now(), owner_alive=job_alive(w.op))
    assert run not in spared.interrupted and binding not in spared.bindings
    status = w.admin.get(GROUP_VERSION, "AgentRun", run, ns).get("status") or {}
    assert status.get("phase", "Pending") == "Pending"  # the pod writes Running
    # once nothing executes it: closed, and its cluster-wide binding removed
    assert mark_interrupted(w.op, ns, now=w.clock.now()) == [run]
    record = w.admin.get(GROUP_VERSION, "AgentRun", run, ns)
    assert record["status"]["phase"] == "Interrupted"
    assert binding in remove_stale_run_bindings(w.op)
    assert not w.exists(RBAC, "ClusterRoleBinding", binding, None)


def test_as_the_operator_the_lease_is_held_and_the_admission_policy_put_back(
    world: Callable[[str], World],
) -> None:
    w = world("http://127.0.0.1:9/")
    assert DEFAULT_LEASE_NAME == LEASE_NAME  # the Lease the install's Role names
    elector = LeaderElector(w.op.api_client, w.operator_namespace, identity="replica-a")
    assert elector.try_acquire_or_renew()  # create
    assert elector.try_acquire_or_renew()  # renew: get + update
    lease = w.admin.get("coordination.k8s.io/v1", "Lease", LEASE_NAME, w.operator_namespace)
    assert lease["spec"]["holderIdentity"] == "replica-a"
    assert elector.release()

    assert ensure_admission_policy(w.op) == [
        (f"ValidatingAdmissionPolicy/{POLICY_NAME}", "unchanged"),
        (f"ValidatingAdmissionPolicyBinding/{BINDING_NAME}", "unchanged"),
    ]
    w.admin.delete(ADMISSION, "ValidatingAdmissionPolicyBinding", BINDING_NAME)
    edit = {"apiVersion": ADMISSION, "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME}, "spec": {"failurePolicy": "Ignore"}}  # fmt: skip
    apply_as(w.admin, edit, manager="someone-else")
    assert ensure_admission_policy(w.op) == [
        (f"ValidatingAdmissionPolicy/{POLICY_NAME}", "replaced"),
        (f"ValidatingAdmissionPolicyBinding/{BINDING_NAME}", "created"),
    ]
    policy = w.admin.get(ADMISSION, "ValidatingAdmissionPolicy", POLICY_NAME)
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_fleet_credentials_are_read_where_install_named_them_and_refused_elsewhere(
    world: Callable[[str], World],
) -> None:
    w = world("http://127.0.0.1:9/")
    spec = {"url": w.bare.as_uri(), "interval": "1m", "secretRef": {"name": "git-creds"}}
    w.admin.apply(git_credentials(w.namespace))
    w.admin.apply(source_manifest(w.namespace, spec))
    named = w.reconcile()
    assert named.outcome == "applied", named.message
    with unnamed_namespace(w.admin) as other:
        w.admin.apply(git_credentials(other))
        w.admin.apply(source_manifest(other, spec))
        refused = w.reconcile(other)
        assert refused.outcome == "failed"
        status = w.admin.get(GROUP_VERSION, "FleetSource", "fleet", other)["status"]
        ready = {c["type"]: c for c in status["conditions"]}["Ready"]
        assert (ready["status"], ready["reason"]) == ("False", "SecretUnreadable")
        assert "forbidden" in ready["message"].lower()
        assert GIT_TOKEN not in str(status)
        assert not w.exists(GROUP_VERSION, "InfraAgent", AGENT, other)


# --------------------------------------------------------------------------- the limits


def _forbidden(call: Callable[[], object]) -> None:
    with pytest.raises(KubeForbidden):
        call()


def test_what_the_operator_may_never_do_is_refused(world: Callable[[str], World]) -> None:
    w = world("http://127.0.0.1:9/")
    with unnamed_namespace(w.admin) as other:
        w.admin.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": "db-password", "namespace": other},
                       "stringData": {"password": "hunter2"}})  # fmt: skip
        # Secrets: read by name only where install named the namespace, never listed
        assert w.op.get("v1", "Secret", "llm-key", w.namespace)["data"]
        _forbidden(lambda: w.op.get("v1", "Secret", "db-password", other))
        _forbidden(lambda: w.op.list("v1", "Secret", w.namespace))
        _forbidden(lambda: w.op.list("v1", "Secret"))
        # an empty patch would answer with the Secret's data: the operator may not patch one
        _forbidden(lambda: w.op.patch("v1", "Secret", "db-password", {}, other))
        # no Namespace deletes, no CRD writes after install, no workload reads
        _forbidden(lambda: w.op.delete("v1", "Namespace", other))
        crd = next(iter(all_crds().values()))
        _forbidden(lambda: w.op.apply(crd))
        _forbidden(lambda: w.op.delete(crd["apiVersion"], crd["kind"], crd["metadata"]["name"]))
        _forbidden(lambda: w.op.list("v1", "Pod", w.namespace))
        _forbidden(lambda: w.op.get("apps/v1", "Deployment", "web", w.namespace))
        # users write FleetSources; the operator only their status
        _forbidden(lambda: w.op.patch(GROUP_VERSION, "FleetSource", "fleet",
                                      {"spec": {"suspend": True}}, w.namespace))  # fmt: skip
        # impersonation: ServiceAccounts only, never a user
        with w.op.impersonating("alice") as alice:
            _forbidden(lambda: alice.list(GROUP_VERSION, "InfraAgent", w.namespace))
        # the admission policy is changed by name only
        _forbidden(lambda: w.op.delete(ADMISSION, "ValidatingAdmissionPolicy", "someone-elses"))
        # Leases: only its own can be renewed
        _forbidden(lambda: w.op.get("coordination.k8s.io/v1", "Lease", "other",
                                    w.operator_namespace))  # fmt: skip
