"""The reconciler's wiring: Git repositories, the snapshot loader and Events over one client.

Shared by the main job (``cli.mainjob``) and ``infraagent reconcile``: ``build_ports`` gives the
reconciler its ports (``GitFleetRepository`` with ``GitCredentials`` from a FleetSource's
Secret data, ``FleetSnapshotLoader``, Events for persisted sources, printed lines for the
implicit one); ``exit_status`` and ``print_result`` turn pass results into a CI exit status
and a short report.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infraagent.adapters.git.auth import GitCredentials
from infraagent.adapters.git.fleet import GitFleetRepository
from infraagent.adapters.kube import KubeClient
from infraagent.adapters.kube.events import record_event
from infraagent.cli.common import SystemClock
from infraagent.errors import KubeError
from infraagent.loading.snapshot import FleetSnapshotLoader
from infraagent.reconciler.context import (
    EventSink,
    EventType,
    ReconcileResult,
    ReconcilerPorts,
    RepositorySpec,
)
from infraagent.reconciler.report import status_json

log = logging.getLogger("infraagent.reconciler")


def repository_factory(workdir: Path) -> Any:
    """Builds a ``GitFleetRepository`` per source, in its own folder under ``workdir``."""

    def build(spec: RepositorySpec) -> GitFleetRepository:
        credentials = (
            GitCredentials.from_secret_data(secret_keys(spec.credentials))
            if spec.credentials
            else None
        )
        folder = re.sub(r"[^a-z0-9.-]+", "-", spec.key.lower())
        digest = hashlib.sha256(f"{spec.url}\0{spec.branch}".encode()).hexdigest()[:8]
        ref = spec.revision or spec.branch
        return GitFleetRepository(spec.url, ref, workdir / f"{folder}-{digest}", credentials)

    return build


def secret_keys(data: Mapping[str, str]) -> dict[str, str]:
    """Only the keys a FleetSource Secret may hold (a stray key must not break the build)."""
    wanted = ("username", "token", "password", "identity", "known_hosts")
    return {k: v for k, v in data.items() if k in wanted}


def event_sink(kube: KubeClient, clock: SystemClock) -> EventSink:
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
    clock = SystemClock()
    return ReconcilerPorts(
        cluster=kube,
        loader=FleetSnapshotLoader(),
        clock=clock,
        repositories=repository_factory(workdir),
        events=event_sink(kube, clock),
    )


def implicit_name(repo: str) -> str:
    """The implicit FleetSource's name: the repository's base name as a DNS label."""
    base = re.sub(r"\.git$", "", repo.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    name = re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:63].strip("-")
    return name or "fleet"


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
