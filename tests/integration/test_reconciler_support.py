"""Shared set-up for the reconciler's integration tests: a fleet repository and one source.

``Harness`` holds a real bare Git repository (built with the git command line), a FleetSource
on the real API server, the reconciler's real ports (``GitFleetRepository``, the snapshot
loader, Events) and a ``CountingCluster`` that counts every API write the reconciler makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from infraagent.adapters.kube import KubeClient
from infraagent.cli.reconcile import event_sink, repository_factory
from infraagent.errors import KubeNotFound
from infraagent.loading.snapshot import FleetSnapshotLoader
from infraagent.reconciler.context import ReconcileResult, ReconcilerPorts, SourceState
from infraagent.reconciler.reconcile import reconcile_once, source_from_object

REPO = Path(__file__).resolve().parents[2]
GV = "core.infraagent.io/v1alpha1"

AGENT = """apiVersion: core.infraagent.io/v1alpha1
kind: InfraAgent
metadata:
  name: {name}
spec:
  description: {description}
  schedule: {{cron: "*/5 * * * *"}}
  model: {{tier: fast}}
  skills: [{{name: hello-world}}]
  guardrails: {{autonomy: observe}}
  environmentRef: dev-lab
"""


def agent(name: str, description: str = "watches things") -> str:
    return AGENT.format(name=name, description=description)


def fleet_files(namespace: str, agents: tuple[str, ...] = ("alpha", "beta")) -> dict[str, str]:
    """A small valid fleet: agents, an environment, a ModelTierConfig unique to the test."""
    tiers = (REPO / "environments/model-tiers.yaml").read_text()
    files = {
        "environments/dev-lab.yaml": (REPO / "environments/dev-lab.yaml").read_text(),
        "environments/tiers.yaml": tiers.replace("name: default", f"name: tiers-{namespace}"),
        "skills/hello-world/SKILL.md": (REPO / "skills/hello-world/SKILL.md").read_text(),
        "skills/hello-world/actions.yaml": (REPO / "skills/hello-world/actions.yaml").read_text(),
        "README.md": "a fleet\n",
    }
    files.update({f"agents/{name}.yaml": agent(name) for name in agents})
    return files


class CountingCluster:
    """A ``Cluster`` that forwards to ``KubeClient`` and records every write."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kube, name)

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        if not dry_run:
            self.writes.append(f"apply {obj['kind']}")
        return self.kube.apply(obj, dry_run=dry_run)

    def apply_with_outcome(self, obj: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        result, outcome = self.kube.apply_with_outcome(obj)
        if outcome != "unchanged":
            self.writes.append(f"{outcome} {obj['kind']} {obj['metadata']['name']}")
        return result, outcome

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        self.writes.append(f"create {obj['kind']}")
        return self.kube.create(obj)

    def delete(self, api_version: str, kind: str, name: str, *args: Any, **kw: Any) -> None:
        self.writes.append(f"delete {kind} {name}")
        self.kube.delete(api_version, kind, name, *args, **kw)

    def patch_status(self, api_version: str, kind: str, name: str, *args: Any) -> dict[str, Any]:
        self.writes.append(f"status {kind} {name}")
        return self.kube.patch_status(api_version, kind, name, *args)


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Harness:
    """One FleetSource named ``fleet`` in ``namespace`` over the bare repository ``url``."""

    kube: KubeClient
    namespace: str
    url: str
    workdir: Path
    state: SourceState = field(default_factory=SourceState)
    cluster: CountingCluster = field(init=False)
    ports: ReconcilerPorts = field(init=False)

    def __post_init__(self) -> None:
        self.cluster = CountingCluster(self.kube)
        clock = _Clock()
        self.ports = ReconcilerPorts(
            cluster=self.cluster,
            loader=FleetSnapshotLoader(),
            clock=clock,
            repositories=repository_factory(self.workdir),
            events=event_sink(self.kube, clock),
        )

    def source(self, **spec: Any) -> None:
        """Create or change the FleetSource (server-side apply of its spec)."""
        self.kube.apply(
            {
                "apiVersion": GV,
                "kind": "FleetSource",
                "metadata": {"name": "fleet", "namespace": self.namespace},
                "spec": {"url": self.url, "interval": "1m", **spec},
            }
        )

    def reconcile(self) -> ReconcileResult:
        obj = self.kube.get(GV, "FleetSource", "fleet", self.namespace)
        return reconcile_once(source_from_object(obj), self.ports, self.state)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.kube.get(GV, "FleetSource", "fleet", self.namespace)["status"]
        return status

    def ready(self) -> dict[str, Any]:
        conditions = {c["type"]: c for c in self.status()["conditions"]}
        return conditions["Ready"]

    def live(self, kind: str, name: str, api_version: str = GV) -> dict[str, Any] | None:
        namespace = None if kind == "ModelTierConfig" else self.namespace
        try:
            return self.kube.get(api_version, kind, name, namespace)
        except KubeNotFound:
            return None

    def owned_versions(self) -> dict[str, str]:
        """resourceVersion of every object the source applied, and of the source itself."""
        versions = {}
        for entry in self.status()["inventory"]:
            obj = self.kube.get(entry["apiVersion"], entry["kind"], entry["name"],
                                entry.get("namespace"))  # fmt: skip
            versions[f"{entry['kind']}/{entry['name']}"] = obj["metadata"]["resourceVersion"]
        source = self.kube.get(GV, "FleetSource", "fleet", self.namespace)
        versions["FleetSource"] = source["metadata"]["resourceVersion"]
        return versions

    def events(self) -> list[dict[str, Any]]:
        return self.kube.list("events.k8s.io/v1", "Event", self.namespace).items
