"""The compiled policy of one agent: its Action Sheets, lists, autonomy and environment.

``build_policy`` turns the models into matchers once (globs compiled, data resources
resolved through the REST mapper), so judging a call does no parsing of configuration.
``Policy.permitting`` finds the actions that permit a canonical request. The policy is
immutable and holds no clock; cooldown state is passed to the engine separately.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from infraagent.guardrails.globs import GlobSet
from infraagent.guardrails.http_rules import (
    DEFAULT_KUBE_API_HOSTS,
    HttpEndpoint,
    HttpPolicy,
    endpoint_from_url,
    matching_endpoint,
)
from infraagent.guardrails.restmapper import RestMapper
from infraagent.guardrails.verdict import TIER_ORDER
from infraagent.models.agent import Autonomy, InfraAgent
from infraagent.models.agentrun import Tier
from infraagent.models.common import parse_duration
from infraagent.models.environment import AgentEnvironment
from infraagent.models.requests import CanonicalRequest, HttpRequest, KubeRequest, McpCall
from infraagent.models.skill import Action, ActionSheet

DEFAULT_OPERATOR_NAMESPACE: Final = "infraagent-system"


@dataclass(frozen=True, slots=True)
class CompiledAction:
    """One Action Sheet entry, ready to match canonical requests."""

    qualified_id: str
    tier: Tier
    verbs: frozenset[str] | None = None
    resources: frozenset[str] | None = None
    namespaces: GlobSet | None = None
    names: GlobSet | None = None
    methods: frozenset[str] | None = None
    urls: GlobSet | None = None
    mcp_server: str | None = None
    mcp_tools: GlobSet | None = None
    cooldown: timedelta | None = None

    def matches(self, request: CanonicalRequest, namespaced: bool) -> bool:
        if isinstance(request, KubeRequest):
            return self._matches_kube(request, namespaced)
        if isinstance(request, HttpRequest):
            return self._matches_http(request)
        return self._matches_mcp(request)

    def _matches_kube(self, request: KubeRequest, namespaced: bool) -> bool:
        if self.verbs is None or self.resources is None or self.names is None:
            return False
        if "*" not in self.verbs and request.verb not in self.verbs:
            return False
        if "*" not in self.resources and request.qualified_resource not in self.resources:
            return False
        if not _scope_matches(self.namespaces, request, namespaced):
            return False
        return self.names.matches(request.name) if request.name else self.names.everything

    def _matches_http(self, request: HttpRequest) -> bool:
        if self.methods is None or self.urls is None:
            return False
        method_ok = "*" in self.methods or request.method in self.methods
        return method_ok and self.urls.matches(request.url)

    def _matches_mcp(self, request: McpCall) -> bool:
        return (
            self.mcp_server == request.server
            and self.mcp_tools is not None
            and self.mcp_tools.matches(request.tool)
        )


def _scope_matches(namespaces: GlobSet | None, request: KubeRequest, namespaced: bool) -> bool:
    if not namespaced:
        return namespaces is None
    if namespaces is None:
        return False
    if request.all_namespaces:
        return namespaces.everything
    return namespaces.matches(request.namespace or "default")


def compile_action(skill: str, action: Action) -> CompiledAction:
    """Compile one Action Sheet entry of ``skill``."""
    kube, http, mcp = action.kube, action.http, action.mcp
    return CompiledAction(
        qualified_id=f"{skill}/{action.id}",
        tier=Tier(action.tier.value),
        verbs=frozenset(kube.verbs) if kube else None,
        resources=frozenset(kube.resources) if kube else None,
        namespaces=GlobSet.of(kube.namespaces) if kube and kube.namespaces else None,
        names=GlobSet.of(kube.names) if kube else None,
        methods=frozenset(http.methods) if http else None,
        urls=GlobSet.of(http.urls) if http else None,
        mcp_server=mcp.server if mcp else None,
        mcp_tools=GlobSet.of(mcp.tools) if mcp else None,
        cooldown=parse_duration(action.cooldown) if action.cooldown else None,
    )


@dataclass(frozen=True, slots=True)
class DataResource:
    """A declared data object: (group, resource) when the kind resolves, else the kind text."""

    group_resources: frozenset[tuple[str, str]]
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Policy:
    """Everything the engine needs to judge one agent's tool calls."""

    agent: str
    autonomy: Autonomy
    actions: tuple[CompiledAction, ...]
    allowed: GlobSet
    denied: GlobSet
    data_resources: tuple[DataResource, ...]
    http: HttpPolicy
    mapper: RestMapper
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE

    def permitting(self, request: CanonicalRequest, namespaced: bool) -> Iterator[CompiledAction]:
        """Actions whose matchers all match ``request``, in file order."""
        return (a for a in self.actions if a.matches(request, namespaced))

    def agent_permits(self, action: str) -> bool:
        """Whether the agent's allow and deny lists let it use ``action`` (deny wins)."""
        if self.denied.matches(action):
            return False
        return not self.allowed.patterns or self.allowed.matches(action)

    def credential_for(self, request: HttpRequest) -> str | None:
        """The credential to inject: only that of the endpoint with this exact scheme, host
        and port (and a path under its base). Never a prefix match on the URL text."""
        endpoint = matching_endpoint(request, self.http)
        return endpoint.credential if endpoint else None


def ceiling_covers(action: CompiledAction, tier: Tier) -> bool:
    return TIER_ORDER[action.tier] >= TIER_ORDER[tier]


def build_policy(
    agent: InfraAgent,
    environment: AgentEnvironment | None,
    sheets: Mapping[str, ActionSheet],
    *,
    operator_namespace: str = DEFAULT_OPERATOR_NAMESPACE,
    mapper: RestMapper | None = None,
    kube_api_hosts: frozenset[str] = DEFAULT_KUBE_API_HOSTS,
) -> Policy:
    """Compile an agent, its environment and its skills' Action Sheets into a Policy.

    ``sheets`` maps skill name to Action Sheet; skills are taken in the agent's order, and
    a skill without a sheet declares nothing.
    """
    mapper = mapper or RestMapper.builtin()
    actions = tuple(
        compile_action(ref.name, action)
        for ref in agent.spec.skills
        for action in (sheets[ref.name].actions if ref.name in sheets else [])
    )
    guardrails = agent.spec.guardrails
    return Policy(
        agent=agent.metadata.name or "",
        autonomy=guardrails.autonomy,
        actions=actions,
        allowed=GlobSet.of(guardrails.allowedActions),
        denied=GlobSet.of(guardrails.deniedActions),
        data_resources=_data_resources(environment, mapper),
        http=_http_policy(environment, kube_api_hosts),
        mapper=mapper,
        operator_namespace=operator_namespace,
    )


def _data_resources(env: AgentEnvironment | None, mapper: RestMapper) -> tuple[DataResource, ...]:
    data = env.spec.dataResources if env else None
    if data is None:
        return ()
    declared = [*data.databases, *data.persistentStorage]
    return tuple(
        DataResource(
            group_resources=frozenset((i.group, i.resource) for i in mapper.resolve(ref.kind)),
            kind=ref.kind.lower(),
            namespace=ref.namespace,
            name=ref.name,
        )
        for ref in declared
    )


def _http_policy(env: AgentEnvironment | None, kube_api_hosts: frozenset[str]) -> HttpPolicy:
    endpoints: list[HttpEndpoint] = []
    buckets: frozenset[str] = frozenset()
    if env is not None:
        for name, endpoint in sorted(env.spec.endpoints.items()):
            endpoints.append(
                endpoint_from_url(name, endpoint.url, endpoint.kind.value, endpoint.credential)
            )
        if env.spec.dataResources:
            buckets = frozenset(b.name for b in env.spec.dataResources.objectStorage)
    return HttpPolicy(
        endpoints=tuple(endpoints), kube_api_hosts=kube_api_hosts, object_storage_buckets=buckets
    )
