"""Keeping every agent's identity in step with its skills: the leader's identity duty.

An agent's tool calls run as its own ServiceAccount, with exactly the rights its skills'
Action Sheets declare (``operator.identity.reconcile_identity``). ``IdentitySync.sync``
gives each InfraAgent its identity before it can run, and again whenever the agent or one
of its skill sources changed: the fingerprint of an agent is its uid and generation plus the
resourceVersions of the ConfigMaps its skills come from (and, for an agent whose sheets name
namespaces by glob, the cluster's namespaces the globs expand over), so a steady fleet costs
one read per skill, the lists of agents and namespaces, and no write. Identities of agents
that are gone are removed (``remove_identity``; the owned objects would go with the agent
through the garbage collector, the cluster-scoped ones would not): those this sync saw
before, and, at its first sync that lists the agents itself, every identity in its scope
whose agent does not exist (one a previous operator process applied for an agent deleted
while none ran).

A skill that cannot be resolved, or a sheet that does not parse, leaves the agent with no
new rights: the previous identity stays as it was (never widened by a guess) and the
problem is reported (in every ``SyncResult``; to ``report`` once, until it changes). Cluster
errors are reported per agent and retried at the next sync. Deliberately not here: running
agents, and deciding what rights a sheet means (``infraagent.identity``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from infraagent.errors import KubeError
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.keys import (
    AGENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    skill_configmap_name,
)
from infraagent.models.skill import ActionSheet
from infraagent.operator.identity import IDENTITY_KINDS, reconcile_identity, remove_identity
from infraagent.operator.run_inputs import RunInputError, SkillFetcher, resolve_skills
from infraagent.ports import Cluster

AgentKey = tuple[str, str]  # (namespace, name) of an InfraAgent
_AGENT_NAMESPACE_LABEL: Final = "infraagent.io/agent-namespace"  # set by identity.agent_rbac
_GLOB_CHARS: Final = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What one sync did: agents given (or re-given) an identity, removed, and problems."""

    applied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Applied:
    """What an agent's identity was last applied from: its fingerprint and, when its sheets
    name namespaces by glob, the namespaces the globs were expanded over."""

    mark: tuple[str, ...]
    namespaces: tuple[str, ...] | None

    def current(self, mark: tuple[str, ...], namespaces: tuple[str, ...]) -> bool:
        return self.mark == mark and self.namespaces in (None, namespaces)


@dataclass
class IdentitySync:
    """Applies agents' identities when their fingerprint changes (see the module docstring).

    ``namespace`` limits the agents (and the sweep for identities left by deleted agents)
    to one namespace; None: the whole cluster.
    """

    cluster: Cluster
    operator_namespace: str
    fetch_git: SkillFetcher | None = None
    report: Callable[[str], None] = lambda line: None
    namespace: str | None = None
    _seen: dict[AgentKey, _Applied] = field(default_factory=dict)
    _problems: dict[AgentKey, str] = field(default_factory=dict)
    _swept: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, agent: InfraAgent) -> SyncResult:
        """Give one agent its identity now, if it has none or an outdated one: called before
        each of its runs, so a run never starts ahead of the periodic sync."""
        raw = agent.model_dump(mode="json", exclude_none=True)
        with self._lock:
            result = SyncResult()
            self._one(raw, _key(raw), self._namespaces(), result)
            return result

    def sync(self, agents: Sequence[Mapping[str, Any]] | None = None) -> SyncResult:
        """One pass over ``agents`` (default: every InfraAgent in scope, listed here), which
        must be all of them: an identity this sync applied whose agent is not among them is
        removed. Only a sync that lists the agents itself looks, the first time, for
        identities of agents deleted while no operator ran (a given list may cover less
        than ``namespace``; the sweep must never take an agent it was not shown).

        A failed list of the agents or the namespaces raises ``KubeError``, nothing done.
        """
        with self._lock:
            return self._sync(agents)

    def _sync(self, agents: Sequence[Mapping[str, Any]] | None) -> SyncResult:
        sweep = agents is None and not self._swept
        if agents is None:
            agents = self.cluster.list(GROUP_VERSION, "InfraAgent", self.namespace).items
        namespaces = self._namespaces()
        result = SyncResult()
        present: set[AgentKey] = set()
        for raw in agents:
            key = _key(raw)
            present.add(key)
            self._one(raw, key, namespaces, result)
        gone = set(self._seen) - present
        if sweep:
            gone |= self._orphans() - present
        for key in sorted(gone):
            self._remove(key, result)
        for key in set(self._problems) - present:
            del self._problems[key]
        return result

    def _one(
        self,
        raw: Mapping[str, Any],
        key: AgentKey,
        namespaces: tuple[str, ...],
        result: SyncResult,
    ) -> None:
        label = f"{key[0]}/{key[1]}"
        try:
            agent = InfraAgent.model_validate(raw)
            mark = self._fingerprint(raw, agent)
            seen = self._seen.get(key)
            if seen is not None and seen.current(mark, namespaces):
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
            self._problem(key, f"identity of {label} not updated: {_first_line(err)}", result)
            return
        self._seen[key] = _Applied(mark, namespaces if _uses_namespace_globs(sheets) else None)
        self._problems.pop(key, None)
        result.applied.append(label)

    def _problem(self, key: AgentKey, problem: str, result: SyncResult) -> None:
        """Every sync's result lists the problem; ``report`` hears it once, until it changes."""
        result.problems.append(problem)
        if self._problems.get(key) != problem:
            self._problems[key] = problem
            self.report(problem)

    def _remove(self, key: AgentKey, result: SyncResult) -> None:
        try:
            remove_identity(self.cluster, key[1], key[0])
        except KubeError as err:
            self.report(f"identity of {key[0]}/{key[1]} not removed: {err}")
            return
        self._seen.pop(key, None)
        result.removed.append(f"{key[0]}/{key[1]}")

    def _orphans(self) -> set[AgentKey]:
        """The agents that own identity objects on the cluster (once per ``IdentitySync``:
        what a previous process applied for an agent deleted while none ran)."""
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY},{AGENT_LABEL},{_AGENT_NAMESPACE_LABEL}"
        if self.namespace is not None:
            selector += f"={self.namespace}"
        found: set[AgentKey] = set()
        try:
            for api_version, kind in IDENTITY_KINDS:
                for obj in self.cluster.list(api_version, kind, label_selector=selector).items:
                    labels = (obj.get("metadata") or {}).get("labels") or {}
                    found.add((str(labels[_AGENT_NAMESPACE_LABEL]), str(labels[AGENT_LABEL])))
        except KubeError as err:
            self.report(f"looking for identities of deleted agents failed: {err}")
            return set()
        self._swept = True
        return found

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

    def _namespaces(self) -> tuple[str, ...]:
        items = self.cluster.list("v1", "Namespace").items
        return tuple(sorted(str((ns.get("metadata") or {}).get("name", "")) for ns in items))


def _uses_namespace_globs(sheets: Mapping[str, ActionSheet]) -> bool:
    """Whether any Kubernetes action names its namespaces by glob (or not at all: every
    namespace), so the identity depends on which namespaces exist."""
    for sheet in sheets.values():
        for action in sheet.actions:
            if action.kube is None:
                continue
            patterns = action.kube.namespaces
            if patterns is None or any(_GLOB_CHARS & set(p) for p in patterns):
                return True
    return False


def _key(raw: Mapping[str, Any]) -> AgentKey:
    meta = raw.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
