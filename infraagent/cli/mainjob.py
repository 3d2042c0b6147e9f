"""The main job's set-up: the cluster, the installation, the fleet repository, the parts.

``infraagent reconcile`` (see ``cli.reconcile``) runs the whole product in one process:
reconcile the fleet, give agents their identities, schedule and run them, commit run
summaries. This module builds what that needs, in order:

- ``connect``: a cluster only when the user names one (``--kubeconfig`` / ``--context``;
  ``KUBECONFIG`` alone is not enough, so a shell pointed at production is never used by
  surprise). Otherwise a **local** control plane: the test control plane's etcd and
  kube-apiserver, found as the tests find them or built once with ``.ci/control-plane``.
- ``install``: the Namespace, CRDs (waited for until Established), the operator's RBAC and
  the admission policy, applied with server-side apply (a second run changes nothing). The
  operator Deployment and Service are not applied: this process is the operator.
- ``prepare_fleet``: a repository URL is used as given; a local folder (by default this
  repository) is first cloned bare into the cache, so the reconciler reads its committed
  state and run summaries go to that clone's runs branch, never to the user's own folder.
- ``MainJob``: the reconciler's loop, the identity duty, the scheduler's loop over the run
  launcher (in-process, or Jobs for agents with ``runner: job``), the run models and the
  runs publisher, wired over one Kubernetes client.

Progress goes through ``say`` (one line per step); nothing here prints a secret.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import infraagent
from infraagent.adapters.git.local import clone_bare, current_branch
from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.localplane import LocalControlPlane, build_binaries, find_binaries
from infraagent.cli.common import SystemClock
from infraagent.cli.fleet import build_ports, implicit_name
from infraagent.cli.mainjob_metrics import MeteredLauncher, metered_reconcile
from infraagent.cli.mainjob_publish import Publishing, Target
from infraagent.cli.models import ModelSource, RunModels
from infraagent.cli.run_cluster import GitSkillFetcher, execute_deps
from infraagent.errors import KubeError, UsageError
from infraagent.install import install_manifests
from infraagent.metrics import Metrics
from infraagent.models.agent import InfraAgent
from infraagent.operator.execute import ExecuteDeps, execute_run
from infraagent.operator.identities import IdentitySync
from infraagent.operator.jobs import JobLauncher, RunnerSwitch
from infraagent.operator.run_job import JobSettings
from infraagent.operator.run_pool import InProcessLauncher
from infraagent.operator.scheduler import Limits, Scheduler
from infraagent.operator.scheduling import SchedulingLoop
from infraagent.ports import ToolExecutor
from infraagent.reconciler.context import SourceObject
from infraagent.reconciler.loop import ReconcileLoop, cluster_sources
from infraagent.reconciler.reconcile import implicit_source
from infraagent.settings import Settings

Say = Callable[[str], None]
_SKIPPED_KINDS: Final = frozenset({"Deployment", "Service"})
_ESTABLISH_SECONDS: Final = 60.0


def repository_root() -> Path:
    """The source tree this package was installed from (it holds ``.ci/control-plane``)."""
    return Path(infraagent.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Link:
    """The cluster the main job uses: a client, and how to make another one (for the Lease).

    ``local``: a local control plane this process started (and stops on exit).
    """

    kube: KubeClient
    local: bool
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False

    def second(self, stack: ExitStack) -> KubeClient:
        """Another client to the same cluster, so Lease renewals never queue behind work."""
        if self.in_cluster:
            return stack.enter_context(KubeClient.in_cluster())
        return stack.enter_context(KubeClient.from_kubeconfig(self.kubeconfig, self.context))


def named_cluster(args: argparse.Namespace) -> bool:
    """Whether the user named a cluster (``--kubeconfig``, ``--context`` or ``--in-cluster``)."""
    return bool(args.kubeconfig is not None or args.context is not None or args.in_cluster)


def connect(args: argparse.Namespace, settings: Settings, stack: ExitStack, say: Say) -> Link:
    """A client for the cluster the user named, or for a fresh local control plane."""
    if args.in_cluster:
        say("Cluster: this pod's own (in-cluster ServiceAccount)")
        return Link(stack.enter_context(KubeClient.in_cluster()), False, in_cluster=True)
    if named_cluster(args):
        where = args.context or "the current context"
        say(f"Cluster: {where} of {args.kubeconfig or 'the default kubeconfig'}")
        kube = stack.enter_context(KubeClient.from_kubeconfig(args.kubeconfig, args.context))
        return Link(kube, False, args.kubeconfig, args.context)
    binaries = find_binaries(settings)
    if binaries is None:
        say("Building etcd and kube-apiserver from the Go module proxy (first run only; about")
        say("8 minutes on 2 cores; later runs reuse them from the cache) ...")
        build_binaries(repository_root(), lambda line: say(f"    {line}"))
        binaries = find_binaries(settings)
        if binaries is None:
            raise UsageError("the control plane was built but its binaries cannot be found")
    say("Starting a local control plane (etcd + kube-apiserver on loopback) ...")
    plane = stack.enter_context(LocalControlPlane(*binaries))
    say(f"Local control plane {plane.version} ready in {plane.start_seconds:.1f}s")
    kube = stack.enter_context(KubeClient.from_kubeconfig(plane.kubeconfig))
    return Link(kube, True, plane.kubeconfig)


def install(kube: KubeClient, namespace: str, say: Say) -> None:
    """Apply the CRDs, RBAC and admission policy; wait until the CRDs are Established."""
    counts: dict[str, int] = {}
    crds: list[str] = []
    for manifest in install_manifests(namespace=namespace):
        if manifest["kind"] in _SKIPPED_KINDS:
            continue
        _, outcome = kube.apply_with_outcome(manifest)
        counts[outcome] = counts.get(outcome, 0) + 1
        if manifest["kind"] == "CustomResourceDefinition":
            crds.append(manifest["metadata"]["name"])
    for name in crds:
        _wait_established(kube, name)
    done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
    say(f"Installed {len(crds)} CRDs, RBAC and the admission policy ({done})")


def _wait_established(kube: KubeClient, name: str) -> None:
    deadline = time.monotonic() + _ESTABLISH_SECONDS
    while True:
        crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        conditions = (crd.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
            return
        if time.monotonic() > deadline:
            raise KubeError(f"CRD {name} is not Established after {_ESTABLISH_SECONDS:.0f}s")
        time.sleep(0.2)


@dataclass(frozen=True)
class FleetPlan:
    """Where the fleet comes from and where run summaries go.

    ``source`` None: the FleetSources on the cluster (in ``watch_namespace``; None: all).
    ``runs_url`` None: each FleetSource's summaries go to its own repository and
    ``runsBranch``. ``clone`` is the bare clone made of this folder, shown at the end.
    """

    source: SourceObject | None
    runs_url: str | None
    runs_branch: str
    clone: Path | None
    namespace: str
    watch_namespace: str | None = None


def prepare_fleet(args: argparse.Namespace, workdir: Path, say: Say) -> FleetPlan:
    """The implicit source for ``--repo``, or the cluster's FleetSources.

    Without ``--repo`` and without a named cluster, the fleet is this folder: it is cloned
    bare into the cache, so summaries go to the clone's runs branch, not to the folder.
    A folder given with ``--repo`` is used as it is (its runs branch receives the summaries).
    """
    namespace = args.namespace or "default"
    repo: str | None = args.repo
    if repo is None and named_cluster(args):
        return FleetPlan(None, None, args.runs_branch, None, namespace, args.namespace)
    branch, clone = args.branch, None
    if repo is None:
        folder = Path.cwd()
        clone = workdir / "fleet.git"
        clone_bare(folder, clone)
        url = clone.resolve().as_uri()
        branch = branch or current_branch(folder) or "HEAD"
        say(f"Fleet: this folder's last commit on {branch} (uncommitted edits are not used)")
        say(f"  cloned to {clone}; run summaries go to its {args.runs_branch} branch")
    else:
        folder = Path(repo)
        local = "://" not in repo and folder.exists()
        url = folder.resolve().as_uri() if local else repo
        if local:
            branch = branch or current_branch(folder)
        say(f"Fleet: {repo} (branch {branch or 'main'})")
    source = implicit_source(
        url,
        name=args.name or implicit_name(repo or "fleet"),
        namespace=namespace,
        branch=branch or "main",
        revision=args.revision,
    )
    return FleetPlan(source, url, args.runs_branch, clone, namespace)


@dataclass
class MainJob:
    """The parts of the main job over one client; built by ``build``."""

    kube: KubeClient
    plan: FleetPlan
    reconcile: ReconcileLoop
    identities: IdentitySync
    models: RunModels
    launcher: MeteredLauncher
    scheduling: SchedulingLoop
    publishing: Publishing
    clock: SystemClock
    metrics: Metrics

    @classmethod
    def build(cls, kube: KubeClient, plan: FleetPlan, options: JobOptions, say: Say) -> MainJob:
        """Wire the reconciler, identities, models, launcher, scheduler and publisher."""
        clock = SystemClock()
        fetcher = GitSkillFetcher(options.workdir / "skills")
        source = plan.source
        sources = (
            (lambda: [source])
            if source is not None
            else cluster_sources(kube, clock, plan.watch_namespace)
        )
        models = RunModels(options.models, options.settings, kube)
        identities = IdentitySync(
            kube,
            options.operator_namespace,
            fetch_git=fetcher,
            report=say,
            namespace=plan.namespace if plan.source is not None else None,
        )
        deps = _deps(kube, clock, models, fetcher, identities)
        inprocess = InProcessLauncher(
            lambda request, started: execute_run(request, deps, started), options.concurrency
        )
        jobs = JobLauncher(kube, clock, JobSettings(image=options.image), fetch_git=fetcher)
        metrics = Metrics(clock=clock)
        launcher = MeteredLauncher(RunnerSwitch(kube, inprocess, jobs), metrics, kube, clock)
        scheduler = Scheduler(Limits(max_concurrent=options.concurrency))
        implicit = None
        if plan.runs_url is not None:
            implicit = Target(plan.runs_url, plan.runs_branch, (plan.namespace,))
        publishing = Publishing(kube, clock, options.workdir / "runs", implicit)
        return cls(
            kube=kube,
            plan=plan,
            reconcile=ReconcileLoop(
                build_ports(kube, options.workdir / "git"),
                sources,
                reconcile=metered_reconcile(metrics),
            ),
            identities=identities,
            models=models,
            launcher=launcher,
            scheduling=SchedulingLoop(
                kube,
                launcher,
                clock,
                scheduler=scheduler,
                report=say,
                namespace=plan.namespace if plan.source is not None else plan.watch_namespace,
            ),
            publishing=publishing,
            clock=clock,
            metrics=metrics,
        )


@dataclass(frozen=True)
class JobOptions:
    """The knobs of the main job that are not about the fleet."""

    settings: Settings
    workdir: Path
    models: ModelSource
    concurrency: int
    operator_namespace: str
    image: str


def model_source(choice: str, named_cluster: bool) -> ModelSource:
    """``--llm``: ``auto`` means the cluster's Secrets on a named cluster, else the environment."""
    if choice == "auto":
        return ModelSource.CLUSTER if named_cluster else ModelSource.ENVIRONMENT
    return ModelSource(choice)


def _deps(
    kube: KubeClient,
    clock: SystemClock,
    models: RunModels,
    fetcher: GitSkillFetcher,
    identities: IdentitySync,
) -> ExecuteDeps:
    """Run execution with the run models, and each agent's identity made current first."""
    base = execute_deps(kube, clock, read_secret=models.read_secret, fetch_git=fetcher)

    def executor_for(agent: InfraAgent) -> ToolExecutor:
        identities.ensure(agent)  # a problem is reported; the run's calls then get 403s
        return base.executor_for(agent)

    return dataclasses.replace(base, model_for=models.model_for, executor_for=executor_for)


def agents_of(job: MainJob) -> list[dict[str, Any]]:
    """The InfraAgents the main job serves: the fleet namespace's, or all of them."""
    namespace = job.plan.namespace if job.plan.source is not None else None
    return job.kube.list("core.infraagent.io/v1alpha1", "InfraAgent", namespace).items
