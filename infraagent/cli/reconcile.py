"""``infraagent reconcile``: the main job, in one process.

It reconciles a fleet repository onto a cluster, gives every agent its identity, runs the
agents under the guardrails, and commits a summary of every run to the runs branch
(``cli.mainjob`` builds the parts; ``cli.mainjob_once`` is one pass, ``cli.mainjob_serve``
the long-running leader).

- The cluster is the one the user names (``--kubeconfig``, ``--context``, ``--in-cluster``),
  never one implied by ``KUBECONFIG``. Otherwise a local control plane is started (and the
  CRDs, RBAC and admission policy installed on it), used, and stopped at exit.
- The fleet: ``--repo URL|PATH`` (an implicit FleetSource held in memory, its status printed
  instead of written); without it, this folder on a local control plane, or the cluster's
  FleetSources on a named cluster.
- ``--once``: one pass (every agent runs once), then exit 0 when every definition applied and
  every run succeeded, 1 when some definition or run failed, 2 on a usage error or a fetch
  that failed. ``--apply-only``: reconcile only. Without ``--once`` it serves until SIGINT
  or SIGTERM, leading through a Lease.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import uuid
from contextlib import ExitStack
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from infraagent.cli.fleet import (
    build_ports,
    event_sink,
    exit_status,
    implicit_name,
    print_result,
    repository_factory,
)
from infraagent.cli.mainjob import (
    JobOptions,
    MainJob,
    connect,
    install,
    model_source,
    prepare_fleet,
)
from infraagent.cli.mainjob_once import next_steps, run_once
from infraagent.cli.mainjob_serve import Lease, on_signal, serve, webhook_server
from infraagent.errors import InfraAgentError, UsageError
from infraagent.install import DEFAULT_IMAGE, DEFAULT_NAMESPACE, METRICS_PORT
from infraagent.reconciler.loop import ReconcileLoop
from infraagent.settings import Settings

__all__ = [
    "build_ports",
    "event_sink",
    "exit_status",
    "implicit_name",
    "print_result",
    "register",
    "repository_factory",
    "run",
]

_PROG = "infraagent reconcile"


def register(commands: Any) -> None:
    """Add the ``reconcile`` command: the main job."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reconcile",
        help="the main job: apply the fleet, run its agents, commit run summaries",
        description=(
            "Reconcile a fleet repository onto a cluster, give each agent its identity, run "
            "the agents (on their schedules; once each with --once) and commit a summary of "
            "every run to the runs branch. Without --kubeconfig or --context it brings up a "
            "local control plane and never touches another cluster."
        ),
    )
    parser.add_argument("--repo", help="repository URL or local path (default: this folder)")
    parser.add_argument("--branch", help="branch of --repo (default: main, or the folder's)")
    parser.add_argument("--revision", help="tag or commit of --repo (pins the ref)")
    parser.add_argument("--name", help="name of the implicit FleetSource (from --repo)")
    parser.add_argument("--namespace", help="namespace of the agents (default)")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster (never implied)")
    parser.add_argument("--context", help="use this kubeconfig context (never implied)")
    parser.add_argument("--workdir", type=Path, help="Git cache (default: a cache folder)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit (for CI)")
    parser.add_argument(
        "--apply-only", action="store_true", help="only reconcile: run no agent, commit nothing"
    )
    parser.add_argument(
        "--llm",
        choices=("auto", "environment", "scripted", "cluster"),
        default="auto",
        help="where runs get their model key: auto = the cluster's Secrets on a named "
        "cluster, else the environment (the scripted model for a provider without a key)",
    )
    parser.add_argument("--concurrency", type=int, default=10, help="runs at once (10)")
    parser.add_argument("--runs-branch", default="infraagent/runs", help="summaries branch")
    parser.add_argument(
        "--operator-namespace", default=DEFAULT_NAMESPACE, help="operator namespace"
    )
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="image of run Jobs")
    parser.add_argument(
        "--in-cluster", action="store_true", help="use the pod's ServiceAccount (the operator)"
    )
    parser.add_argument(
        "--webhook-port", type=int, help="serve GitHub push and agent webhooks on this port"
    )
    everywhere = "0.0.0.0"  # noqa: S104 (in a pod, the Service and probes must reach it)
    parser.add_argument(
        "--webhook-host", default=everywhere, help="webhook and metrics address (all)"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=METRICS_PORT, help="Prometheus /metrics (-1: off)"
    )
    add_lease_arguments(parser)
    parser.add_argument("--identity", help="leader-election identity (default: host + random)")
    parser.set_defaults(func=run)


def add_lease_arguments(parser: argparse.ArgumentParser) -> None:
    """The leader-election knobs of a serving replica."""
    parser.add_argument("--lease-duration", type=int, default=15, help="seconds (15)")
    parser.add_argument("--renew-every", type=float, default=5.0, help="seconds (5)")
    parser.add_argument(
        "--resync-every", type=float, default=30.0, help="seconds between policy checks (30)"
    )


def run(args: argparse.Namespace) -> int:
    """One pass (``--once``) or the serving loop; the exit status."""
    settings = Settings.from_environ(os.environ)
    if args.name is not None and not args.repo:
        print(f"{_PROG}: --name needs --repo", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print(f"{_PROG}: --concurrency must be at least 1", file=sys.stderr)
        return 2
    # our own lines at INFO; libraries (the SDKs log every HTTP request) only when they warn
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("infraagent").setLevel(logging.INFO)
    try:
        with ExitStack() as stack:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="infraagent-")))
            workdir = args.workdir or _default_workdir(settings, scratch)
            return _main_job(args, settings, workdir, stack)
    except (ValueError, InfraAgentError) as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 2 if isinstance(err, (ValueError, UsageError)) else 1


def _main_job(args: argparse.Namespace, settings: Settings, workdir: Path, stack: ExitStack) -> int:
    link = connect(args, settings, stack, say)
    if link.local:
        install(link.kube, args.operator_namespace, say)
    plan = prepare_fleet(args, workdir, say)
    options = JobOptions(
        settings=settings,
        workdir=workdir,
        models=model_source(args.llm, not link.local),
        concurrency=args.concurrency,
        operator_namespace=args.operator_namespace,
        image=args.image,
    )
    job = MainJob.build(link.kube, plan, options, say)
    stack.callback(job.models.close)
    if args.once:
        status = run_once(job, say, run_agents=not args.apply_only)
        if not args.apply_only:
            next_steps(link.local, say)
        return status
    if args.apply_only:
        return _serve(job.reconcile)
    if args.webhook_port is not None:
        hooks = stack.enter_context(webhook_server(job, args.webhook_port, args.webhook_host))
        say(f"Webhooks: {hooks.url}/hooks/fleet/<ns>/<source> and /hooks/agents/<ns>/<agent>")
    if args.metrics_port >= 0:
        try:
            metrics = job.metrics.serve(args.webhook_host, args.metrics_port)
        except OSError as err:  # a busy port must not stop the operator
            say(f"Metrics not served on port {args.metrics_port}: {err}")
        else:
            stack.callback(metrics.stop)
            say(f"Metrics: {metrics.url}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.signal(sig, on_signal(stop))
        stack.callback(signal.signal, sig, previous)
    identity = args.identity or f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    say(f"Serving as {identity}; SIGTERM or Ctrl-C stops cleanly")
    lease = Lease(
        timedelta(seconds=args.lease_duration),
        timedelta(seconds=args.renew_every),
        timedelta(seconds=args.resync_every),
    )
    replica_say = partial(_prefixed, f"{identity}: ")
    return serve(
        job, link.second(stack), args.operator_namespace, identity, stop, replica_say, lease
    )


def _prefixed(prefix: str, line: str) -> None:
    say(prefix + line)


_SAY_LOCK = threading.Lock()


def say(line: str) -> None:
    """One line of progress on stdout, at once, whole (runs report from their own threads)."""
    with _SAY_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _default_workdir(settings: Settings, scratch: Path) -> Path:
    return settings.cache_dir / "reconciler" if settings.cache_dir is not None else scratch


def _serve(loop: ReconcileLoop) -> int:
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: loop.stop()) for sig in signals}
    try:
        loop.serve()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
