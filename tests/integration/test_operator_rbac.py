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

import base64
import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.adapters.git import GitRunsPublisher
from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.executor import KubeToolExecutor
from infraagent.adapters.kube.lease import DEFAULT_LEASE_NAME, LeaderElector
from infraagent.adapters.kube.watch import Watcher
from infraagent.admission import BINDING_NAME, POLICY_NAME
from infraagent.cli.reconcile import event_sink, repository_factory
from infraagent.errors import KubeError, KubeForbidden, KubeNotFound
from infraagent.identity import service_account_name
from infraagent.install import LEASE_NAME, OPERATOR_NAME, install_manifests
from infraagent.loading.snapshot import FleetSnapshotLoader
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.crd import all_crds
from infraagent.models.keys import RUN_NOW_ANNOTATION, skill_configmap_name
from infraagent.operator.admission import ensure_admission_policy
from infraagent.operator.execute import ExecuteDeps, execute_run
from infraagent.operator.identities import IdentitySync
from infraagent.operator.jobs import JobLauncher
from infraagent.operator.run_inputs import RunInputs
from infraagent.operator.run_job import JobSettings, key_secret_name
from infraagent.operator.runs import apply_retention, mark_interrupted
from infraagent.operator.scheduling import SchedulingLoop
from infraagent.operator.summaries import SUMMARY_COMMIT_ANNOTATION, publish_summaries
from infraagent.ports import ModelProvider, RunOutcome, RunRequest, ToolExecutor
from infraagent.providers import RetryPolicy, config_for_tier, make_provider
from infraagent.providers.scripted import ScriptedServer, parse_script
from infraagent.reconciler.context import ReconcileResult, ReconcilerPorts, SourceState
from infraagent.reconciler.reconcile import reconcile_once, source_from_object
from tests.integration.gitserver import branch_files, commit_files, make_bare_repo

from .conftest import ControlPlane
from .test_execute_support import (
    AGENT,
    KEY,
    REPORT,
    RESTARTED_AT,
    SKILL_MD,
    StepClock,
    agent_manifest,
    kubectl,
    sheet_yaml,
)

RBAC = "rbac.authorization.k8s.io/v1"
ADMISSION = "admissionregistration.k8s.io/v1"
IMAGE = "registry.example/infraagent:rbac-test"
WAIT = 60.0
_CLUSTER_SCOPED = (
    (ADMISSION, "ValidatingAdmissionPolicyBinding"),
    (ADMISSION, "ValidatingAdmissionPolicy"),
    (RBAC, "ClusterRoleBinding"),
    (RBAC, "ClusterRole"),
)


def fleet_files(namespace: str, tier_url: str, agents: tuple[str, ...]) -> dict[str, str]:
    """A fleet: agents (``keeper``'s spec), environment ``lab``, skill ``ops``, a tier config."""
    files = {
        "environments/lab.yaml": yaml.safe_dump(
            {
                "apiVersion": GROUP_VERSION,
                "kind": "AgentEnvironment",
                "metadata": {"name": "lab"},
                "spec": {"connection": {"kind": "in-cluster"}},
            }
        ),
        "environments/tiers.yaml": yaml.safe_dump(_tiers(namespace, tier_url)),
        "skills/ops/SKILL.md": SKILL_MD,
        "skills/ops/actions.yaml": sheet_yaml(namespace),
    }
    for name in agents:
        manifest = agent_manifest(namespace)
        manifest["metadata"] = {"name": name}
        files[f"agents/{name}.yaml"] = yaml.safe_dump(manifest)
    return files


def _tiers(namespace: str, url: str) -> dict[str, Any]:
    auth = {"type": "apiKey", "secretRef": "llm-key", "secretNamespace": namespace}
    tier = {"tier": "fast", "provider": "anthropic", "model": "scripted-fast",
            "endpoint": url, "maxTokens": 1024}  # fmt: skip
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ModelTierConfig",
        "metadata": {"name": f"tiers-{namespace}"},
        "spec": {"defaultAuth": auth, "tiers": [tier]},
    }


def _workload(namespace: str) -> list[dict[str, Any]]:
    """What the cluster's users own: the key's Secret, a Deployment and a Pod to look at."""
    labels = {"app": "web"}
    pod_spec = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    secret_data = {"api-key": base64.b64encode(KEY.encode()).decode()}
    return [
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "llm-key", "namespace": namespace}, "data": secret_data},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod_spec}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web-0", "namespace": namespace, "labels": labels},
         "spec": pod_spec},
    ]  # fmt: skip


def _token_kubeconfig(control_plane: ControlPlane, namespace: str, path: Path) -> Path:
    """A kubeconfig holding a TokenRequest token of the operator's ServiceAccount."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        request = {"spec": {"audiences": [], "expirationSeconds": 3600}}
        token = client.CoreV1Api(api).create_namespaced_service_account_token(
            OPERATOR_NAME, namespace, request
        )
    finally:
        api.close()
    admin = yaml.safe_load(control_plane.kubeconfig.read_text())
    admin["users"] = [{"name": "operator", "user": {"token": token.status.token}}]
    cluster = admin["clusters"][0]["name"]
    admin["contexts"] = [{"name": "operator", "context": {"cluster": cluster, "user": "operator"}}]
    admin["current-context"] = "operator"
    path.write_text(yaml.safe_dump(admin))
    path.chmod(0o600)
    return path


@dataclass
class World:
    """The admin, the operator (its own token), a namespace with a fleet repository."""

    admin: KubeClient
    op: KubeClient
    operator_namespace: str
    namespace: str
    bare: Path
    workdir: Path
    clock: StepClock = field(default_factory=StepClock)
    state: SourceState = field(default_factory=SourceState)

    def reconcile(self) -> ReconcileResult:
        """One reconcile pass of the FleetSource ``fleet``, as the operator."""
        ports = ReconcilerPorts(
            cluster=self.op,
            loader=FleetSnapshotLoader(),
            clock=self.clock,
            repositories=repository_factory(self.workdir / "cache"),
            events=event_sink(self.op, self.clock),
        )
        source = self.op.get(GROUP_VERSION, "FleetSource", "fleet", self.namespace)
        return reconcile_once(source_from_object(source), ports, self.state)

    def exists(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        try:
            self.admin.get(api_version, kind, name, namespace)
        except KubeNotFound:
            return False
        return True

    def request(self, trigger: str = "scheduled") -> RunRequest:
        now = self.clock.value
        return RunRequest(self.namespace, AGENT, trigger, now, scheduled_time=now)

    @property
    def agent_user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{service_account_name(AGENT)}"


@pytest.fixture
def world(
    control_plane: ControlPlane, crds: list[str], namespace: str, tmp_path: Path
) -> Iterator[Callable[[str], World]]:
    """Install for a fresh operator namespace (Secrets readable in ``namespace``); a factory
    of the ``World`` whose fleet's tier points at the given URL."""
    admin = KubeClient.from_kubeconfig(control_plane.kubeconfig)
    operator_namespace = f"infraagent-rbac-{uuid.uuid4().hex[:6]}"
    docs = install_manifests(operator_namespace, IMAGE, secret_namespaces=[namespace])
    opened: list[KubeClient] = [admin]

    def make(tier_url: str) -> World:
        for doc in [*docs, *_workload(namespace)]:
            admin.apply(doc)
        files = fleet_files(namespace, tier_url, (AGENT, "spare"))
        bare = make_bare_repo(tmp_path / "remote", "fleet.git", files)
        admin.apply(
            {"apiVersion": GROUP_VERSION, "kind": "FleetSource",
             "metadata": {"name": "fleet", "namespace": namespace},
             "spec": {"url": bare.as_uri(), "interval": "1m"}}
        )  # fmt: skip
        kubeconfig = _token_kubeconfig(control_plane, operator_namespace, tmp_path / "op.conf")
        op = KubeClient.from_kubeconfig(kubeconfig)
        opened.append(op)
        return World(admin, op, operator_namespace, namespace, bare, tmp_path)

    try:
        yield make
    finally:
        _clean_up(admin, namespace, operator_namespace)
        for client in opened:
            client.close()


def _clean_up(admin: KubeClient, namespace: str, operator_namespace: str) -> None:
    """Remove the cluster-scoped objects install and the operator made, then the namespace."""
    leftovers = [(v, k, OPERATOR_NAME) for v, k in _CLUSTER_SCOPED[2:]]
    leftovers += [(v, k, POLICY_NAME) for v, k in _CLUSTER_SCOPED[:2]]
    leftovers.append((GROUP_VERSION, "ModelTierConfig", f"tiers-{namespace}"))
    selector = f"infraagent.io/agent-namespace={namespace}"
    for api_version, kind in _CLUSTER_SCOPED[2:]:
        for obj in admin.list(api_version, kind, label_selector=selector).items:
            leftovers.append((api_version, kind, obj["metadata"]["name"]))
    runs = admin.list(RBAC, "ClusterRoleBinding", label_selector="infraagent.io/agent-run")
    for binding in runs.items:
        if f":{namespace}:" in binding["metadata"]["name"]:
            leftovers.append((RBAC, "ClusterRoleBinding", binding["metadata"]["name"]))
    for api_version, kind, name in leftovers:
        with contextlib.suppress(KubeError):
            admin.delete(api_version, kind, name)
    with contextlib.suppress(KubeError):
        admin.delete("v1", "Namespace", operator_namespace)


def _deps(world: World) -> ExecuteDeps:
    """What the composition root wires, all through the operator's own client."""

    def model_for(inputs: RunInputs) -> ModelProvider:
        config = config_for_tier(
            inputs.tier, inputs.default_auth, inputs.secret, timeout_seconds=10
        )
        return make_provider(config, policy=RetryPolicy(initial_backoff=0.01), sleep=lambda _: None)

    def executor_for(agent: InfraAgent) -> ToolExecutor:
        return KubeToolExecutor(world.op, world.agent_user, clock=world.clock)

    return ExecuteDeps(world.op, world.clock, model_for, executor_for)


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
        synced = identities.sync()
        assert synced.problems == [] and sorted(synced.applied) == [f"{ns}/{AGENT}", f"{ns}/spare"]
        # a Role granting what the operator itself may not do (patch Deployments): escalate
        role = w.admin.get(RBAC, "Role", f"infraagent-agent:{ns}:{AGENT}", ns)
        assert {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]} in (
            role["rules"]
        )

        started: list[str] = []
        outcome = execute_run(w.request(), _deps(w), started.append)
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
    assert identities.sync().removed == [f"{ns}/spare"]
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
    assert [(r.agent, r.trigger) for r in launches.requests] == [(AGENT, "manual")]
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
    assert w.exists(RBAC, "ClusterRoleBinding", f"infraagent-run:{ns}:{run}", None)

    assert mark_interrupted(w.op, ns, now=w.clock.now()) == [run]
    record = w.admin.get(GROUP_VERSION, "AgentRun", run, ns)
    assert record["status"]["phase"] == "Interrupted"


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
    _apply_as(w.admin, edit, manager="someone-else")
    assert ensure_admission_policy(w.op) == [
        (f"ValidatingAdmissionPolicy/{POLICY_NAME}", "replaced"),
        (f"ValidatingAdmissionPolicyBinding/{BINDING_NAME}", "created"),
    ]
    policy = w.admin.get(ADMISSION, "ValidatingAdmissionPolicy", POLICY_NAME)
    assert policy["spec"]["failurePolicy"] == "Fail"


def _apply_as(admin: KubeClient, obj: dict[str, Any], *, manager: str) -> None:
    """Server-side apply under another field manager (someone editing by hand)."""
    from infraagent.adapters.kube.client import APPLY_PATCH, send

    name = obj["metadata"]["name"]
    path = f"/apis/{ADMISSION}/validatingadmissionpolicies/{name}"
    query = [("fieldManager", manager), ("force", "true")]
    answer = send(admin.api_client, "PATCH", path, query=query, body=obj, content_type=APPLY_PATCH)
    assert answer.ok, answer.body


# --------------------------------------------------------------------------- the limits


def _forbidden(call: Callable[[], object]) -> None:
    with pytest.raises(KubeForbidden):
        call()


def test_what_the_operator_may_never_do_is_refused(world: Callable[[str], World]) -> None:
    w = world("http://127.0.0.1:9/")
    other = f"unnamed-{uuid.uuid4().hex[:6]}"
    w.admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        w.admin.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": "db-password", "namespace": other},
                       "stringData": {"password": "hunter2"}})  # fmt: skip
        # Secrets: read by name only where install named the namespace, never listed
        assert w.op.get("v1", "Secret", "llm-key", w.namespace)["data"]
        _forbidden(lambda: w.op.get("v1", "Secret", "db-password", other))
        _forbidden(lambda: w.op.list("v1", "Secret", w.namespace))
        _forbidden(lambda: w.op.list("v1", "Secret"))
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
    finally:
        with contextlib.suppress(KubeError):
            w.admin.delete("v1", "Namespace", other)
