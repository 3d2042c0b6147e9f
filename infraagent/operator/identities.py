"""Keeping every agent's identity in step with its skills: the leader's identity duty.

An agent's tool calls run as its own ServiceAccount, with exactly the rights its skills'
Action Sheets declare (``operator.identity.reconcile_identity``). ``IdentitySync.sync``
gives each InfraAgent its identity before it can run, and again whenever the agent or one
of its skill sources changed: the fingerprint of an agent is its uid and generation plus the
resourceVersions of the ConfigMaps its skills come from, so a steady fleet costs one read
per skill and no write. Identities of agents that are gone are removed
(``remove_identity``; the owned objects would go with the agent through the garbage
collector, the cluster-scoped ones would not).

A skill that cannot be resolved, or a sheet that does not parse, leaves the agent with no
new rights: the previous identity stays as it was (never widened by a guess) and the
problem is reported. Cluster errors are reported per agent and retried at the next sync.
Deliberately not here: running agents, and deciding what rights a sheet means
(``infraagent.identity``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from infraagent.errors import KubeError
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.keys import skill_configmap_name
from infraagent.operator.identity import reconcile_identity, remove_identity
from infraagent.operator.run_inputs import RunInputError, SkillFetcher, resolve_skills
from infraagent.ports import Cluster

AgentKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did: agents given (or re-given) an identity, removed, and problems."""

    applied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class IdentitySync:
    """Applies agents' identities when their fingerprint changes (see the module docstring)."""

    cluster: Cluster
    operator_namespace: str
    fetch_git: SkillFetcher | None = None
    report: Callable[[str], None] = lambda line: None
    _seen: dict[AgentKey, tuple[str, ...]] = field(default_factory=dict)

    def sync(self, agents: Sequence[Mapping[str, Any]] | None = None) -> SyncResult:
        """One pass over ``agents`` (default: every InfraAgent on the cluster)."""
        if agents is None:
            agents = self.cluster.list(GROUP_VERSION, "InfraAgent").items
        result = SyncResult()
        present: set[AgentKey] = set()
        namespaces = self._namespaces()
        for raw in agents:
            key = _key(raw)
            present.add(key)
            self._one(raw, key, namespaces, result)
        for key in sorted(set(self._seen) - present):
            self._remove(key, result)
        return result

    def _one(
        self, raw: Mapping[str, Any], key: AgentKey, namespaces: list[str], result: SyncResult
    ) -> None:
        label = f"{key[0]}/{key[1]}"
        try:
            agent = InfraAgent.model_validate(raw)
            mark = self._fingerprint(raw, agent)
            if self._seen.get(key) == mark:
                return
            sheets, _ = resolve_skills(self.cluster, agent, fetch_git=self.fetch_git)
            reconcile_identity(
                self.cluster,
                agent,
                sheets,
                namespaces=namespaces,
                operator_namespace=self.operator_namespace,
            )
        except (ValidationError, RunInputError, KubeError, ValueError) as err:
            problem = f"identity of {label} not updated: {_first_line(err)}"
            result.problems.append(problem)
            self.report(problem)
            return
        self._seen[key] = mark
        result.applied.append(label)

    def _remove(self, key: AgentKey, result: SyncResult) -> None:
        try:
            remove_identity(self.cluster, key[1], key[0])
        except KubeError as err:
            self.report(f"identity of {key[0]}/{key[1]} not removed: {err}")
            return
        del self._seen[key]
        result.removed.append(f"{key[0]}/{key[1]}")

    def _fingerprint(self, raw: Mapping[str, Any], agent: InfraAgent) -> tuple[str, ...]:
        meta = raw.get("metadata") or {}
        parts = [str(meta.get("uid", "")), str(meta.get("generation", ""))]
        for ref in agent.spec.skills:
            source = ref.parsed_source
            if source.kind == "git":
                parts.append(ref.source or "")
                continue
            name = skill_configmap_name(ref.name) if source.kind == "repo" else source.configmap
            parts.append(self._version("ConfigMap", name or "", agent.metadata.namespace))
        return tuple(parts)

    def _version(self, kind: str, name: str, namespace: str | None) -> str:
        try:
            obj = self.cluster.get("v1", kind, name, namespace)
        except KubeError:
            return "missing"
        return str((obj.get("metadata") or {}).get("resourceVersion", ""))

    def _namespaces(self) -> list[str]:
        items = self.cluster.list("v1", "Namespace").items
        return sorted(str((ns.get("metadata") or {}).get("name", "")) for ns in items)


def _key(raw: Mapping[str, Any]) -> AgentKey:
    meta = raw.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
