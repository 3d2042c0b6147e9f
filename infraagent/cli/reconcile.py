"""``infraagent reconcile``: keep a cluster in step with fleet repositories.

The composition root of the reconciler: it wires the Kubernetes adapter, the Git adapter
(``GitFleetRepository`` with ``GitCredentials`` from the FleetSource's Secret data), the
snapshot loader and Events to ``infraagent.reconciler``.

- ``--repo URL|PATH``: an implicit FleetSource held in memory (named ``--name``, in
  ``--namespace``); its status is printed instead of written.
- without ``--repo``: the FleetSources on the cluster (all namespaces, or ``--namespace``).
- ``--once``: one pass, then exit 0 when every definition applied, 1 when some failed
  validation or apply, 2 on usage errors or a failed fetch. Without it the command loops,
  each source on its interval, until SIGINT or SIGTERM.

A cluster is contacted only when ``--kubeconfig``, ``--context`` or ``KUBECONFIG`` names one.
``build_ports`` and ``run_pass`` are what the main job reuses.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import signal
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.git.fleet import GitFleetRepository
from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.events import record_event
from infraagent.errors import KubeError
from infraagent.loading.snapshot import FleetSnapshotLoader
from infraagent.reconciler.context import (
    EventSink,
    EventType,
    ReconcileResult,
    ReconcilerPorts,
    RepositorySpec,
)
from infraagent.reconciler.loop import ReconcileLoop, Sources, cluster_sources
from infraagent.reconciler.reconcile import implicit_source
from infraagent.reconciler.report import status_json
from infraagent.settings import Settings

_PROG = "infraagent reconcile"
log = logging.getLogger("infraagent.reconciler")


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def register(commands: Any) -> None:
    """Add the ``reconcile`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reconcile", help="apply fleet repositories to the cluster (GitOps)"
    )
    parser.add_argument("--repo", help="repository URL or local path (an implicit FleetSource)")
    parser.add_argument("--branch", default="main", help="branch of --repo (main)")
    parser.add_argument("--revision", help="tag or commit of --repo (pins the ref)")
    parser.add_argument("--name", help="name of the implicit FleetSource (from --repo)")
    parser.add_argument("--namespace", help="namespace of the implicit source (default)")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig file (default: KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--workdir", type=Path, help="Git cache (default: a cache folder)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.set_defaults(func=run)


def repository_factory(workdir: Path) -> Any:
    """Builds a ``GitFleetRepository`` per source, in its own folder under ``workdir``."""

    def build(spec: RepositorySpec) -> GitFleetRepository:
        credentials = (
            GitCredentials.from_secret_data(_secret_keys(spec.credentials))
            if spec.credentials
            else None
        )
        folder = re.sub(r"[^a-z0-9.-]+", "-", spec.key.lower())
        digest = hashlib.sha256(f"{spec.url}\0{spec.branch}".encode()).hexdigest()[:8]
        ref = spec.revision or spec.branch
        return GitFleetRepository(spec.url, ref, workdir / f"{folder}-{digest}", credentials)

    return build


def _secret_keys(data: Mapping[str, str]) -> dict[str, str]:
    """Only the keys a FleetSource Secret may hold (a stray key must not break the build)."""
    wanted = ("username", "token", "password", "identity", "known_hosts")
    return {k: v for k, v in data.items() if k in wanted}


def event_sink(kube: KubeClient, clock: _SystemClock) -> EventSink:
    """Events on the cluster for persisted FleetSources; printed for the implicit one."""

    def sink(involved: Mapping[str, Any], reason: str, message: str, kind: EventType) -> None:
        if not (involved.get("metadata") or {}).get("uid"):
            print(f"{kind} {reason}: {message}", file=sys.stderr)
            return
        try:
            record_event(kube, involved, reason, message, kind, now=clock.now())
        except KubeError as err:
            log.warning("event %s not recorded: %s", reason, err)

    return sink


def build_ports(kube: KubeClient, workdir: Path) -> ReconcilerPorts:
    """The reconciler's ports over a Kubernetes client and a Git cache folder."""
    clock = _SystemClock()
    return ReconcilerPorts(
        cluster=kube,
        loader=FleetSnapshotLoader(),
        clock=clock,
        repositories=repository_factory(workdir),
        events=event_sink(kube, clock),
    )


def _repo_url(repo: str) -> str:
    path = Path(repo)
    return path.resolve().as_uri() if "://" not in repo and path.exists() else repo


def implicit_name(repo: str) -> str:
    """The implicit FleetSource's name: the repository's base name as a DNS label."""
    base = re.sub(r"\.git$", "", repo.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    name = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:63].strip("-")
    return name or "fleet"


def _sources(args: argparse.Namespace, kube: KubeClient, clock: _SystemClock) -> Sources:
    if not args.repo:
        return cluster_sources(kube, clock, args.namespace)
    source = implicit_source(
        _repo_url(args.repo),
        name=args.name or implicit_name(args.repo),
        namespace=args.namespace or "default",
        branch=args.branch,
        revision=args.revision,
    )
    return lambda: [source]


def exit_status(results: list[ReconcileResult]) -> int:
    """0 all applied, 1 some definitions failed, 2 a fetch failed."""
    if any(r.outcome in ("failed", "stalled") for r in results):
        return 2
    return 1 if any(r.outcome == "partial" for r in results) else 0


def print_result(result: ReconcileResult) -> None:
    """A short human summary and the status, as YAML, on stdout."""
    print(
        f"{result.source}: {result.outcome} revision {(result.revision or '-')[:12]} "
        f"({result.applied} written, {result.unchanged} unchanged, {result.pruned} pruned, "
        f"{len(result.failed_files)} file(s) failed)"
    )
    if result.message:
        print(f"  {result.message}")
    body = yaml.safe_dump({"status": status_json(result.status)}, sort_keys=False, width=100)
    print("  " + body.replace("\n", "\n  ").rstrip())


def run(args: argparse.Namespace) -> int:
    """One pass (``--once``) or the serving loop; the exit status."""
    settings = Settings.from_environ(os.environ)
    kubeconfig: Path | None = args.kubeconfig or settings.kubeconfig
    if kubeconfig is None and args.context is None:
        print(f"{_PROG}: no cluster given: pass --kubeconfig or --context", file=sys.stderr)
        return 2
    if args.name is not None and not args.repo:
        print(f"{_PROG}: --name needs --repo", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="infraagent-git-") as scratch,
            KubeClient.from_kubeconfig(kubeconfig, args.context) as kube,
        ):
            workdir = args.workdir or _default_workdir(settings, Path(scratch))
            ports = build_ports(kube, workdir)
            loop = ReconcileLoop(ports, _sources(args, kube, _SystemClock()))
            if args.once:
                results = loop.run_due()
                for result in results:
                    print_result(result)
                return exit_status(results)
            return _serve(loop)
    except ValueError as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 2
    except KubeError as err:
        print(f"{_PROG}: {err}", file=sys.stderr)
        return 1


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
