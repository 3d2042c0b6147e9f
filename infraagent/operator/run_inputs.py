"""Everything one run needs, read from the cluster: agent, environment, skills, tier, key.

``resolve_inputs`` reads, through ``ports.Cluster`` only:

- the AgentEnvironment named by ``spec.environmentRef``, in the agent's namespace;
- each skill: ``repo`` skills from the ConfigMap ``skill_configmap_name(name)`` the
  reconciler writes in the agent's namespace (keys ``SKILL.md`` and ``actions.yaml``);
  ``configmap://name[/key]`` from that ConfigMap (the key holds the instructions, an
  ``actions.yaml`` key beside it the sheet); ``git://`` through an injected fetcher that
  returns the folder's files by name. A sheet that does not parse fails the run: an agent
  never runs with a sheet silently missing;
- the ModelTierConfig (cluster-scoped) that maps the agent's tier (the first by name when
  several do);
- the data of the Secret its auth names, through an injected ``SecretReader`` (given the
  tier and its auth: the operator reads the Secret; a Job's pod gets the key from its
  environment instead).

Anything missing raises ``RunInputError`` with a CamelCase ``reason`` and a message naming
the missing object; values of Secrets never appear in a message. It deliberately does not
build a provider or run anything (``operator.execute`` does).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from pydantic import ValidationError

from infraagent.errors import InfraAgentError, KubeError, KubeNotFound
from infraagent.models.agent import InfraAgent
from infraagent.models.common import GROUP_VERSION
from infraagent.models.environment import AgentEnvironment
from infraagent.models.keys import SKILL_MD_KEY, SKILL_SHEET_KEY, skill_configmap_name
from infraagent.models.modeltier import AuthType, ModelTierConfig, ProviderAuthSpec, TierMapping
from infraagent.models.skill import ActionSheet
from infraagent.models.skillref import ParsedSource, SkillRef
from infraagent.ports import Cluster

SkillFetcher = Callable[[ParsedSource], Mapping[str, str]]
SecretReader = Callable[[TierMapping, ProviderAuthSpec], Mapping[str, str]]
_FRONTMATTER: Final = "---"


class RunInputError(InfraAgentError):
    """Something a run needs is missing or invalid; ``reason`` is the AgentRun's reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class RunInputs:
    """What the runtime needs for one run of ``agent``, resolved from the cluster."""

    agent: InfraAgent
    environment: AgentEnvironment
    sheets: Mapping[str, ActionSheet]
    instructions: Mapping[str, str]
    tier: TierMapping
    default_auth: ProviderAuthSpec | None
    secret: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def auth(self) -> ProviderAuthSpec | None:
        """The auth the tier uses: its own, else the config's default."""
        return self.tier.auth or self.default_auth


def read_agent(cluster: Cluster, name: str, namespace: str) -> InfraAgent:
    """The InfraAgent ``namespace/name`` as the cluster holds it."""
    obj = _get(cluster, GROUP_VERSION, "InfraAgent", name, namespace, reason="AgentNotFound")
    try:
        return InfraAgent.model_validate(obj)
    except ValidationError as err:
        raise RunInputError("InvalidAgent", f"InfraAgent {namespace}/{name} is invalid") from err


def resolve_inputs(
    cluster: Cluster,
    agent: InfraAgent,
    *,
    read_secret: SecretReader,
    fetch_git: SkillFetcher | None = None,
) -> RunInputs:
    """Environment, skills, tier and credentials of ``agent`` (see the module docstring)."""
    namespace = agent.metadata.namespace or ""
    environment = _environment(cluster, agent.spec.environmentRef, namespace)
    sheets, instructions = resolve_skills(cluster, agent, fetch_git=fetch_git)
    config = _tier_config(cluster, agent)
    tier = config.spec.tier(agent.spec.model.tier)
    assert tier is not None  # _tier_config only returns a config that maps it
    auth = tier.auth or config.spec.defaultAuth
    secret = _secret(tier, auth, read_secret) if auth is not None else {}
    return RunInputs(
        agent, environment, sheets, instructions, tier, config.spec.defaultAuth, secret
    )


def resolve_skills(
    cluster: Cluster, agent: InfraAgent, *, fetch_git: SkillFetcher | None = None
) -> tuple[dict[str, ActionSheet], dict[str, str]]:
    """The Action Sheets and instructions of ``agent``'s skills, by skill name.

    Raises ``RunInputError`` for a skill that cannot be found or a sheet that does not parse.
    """
    namespace = agent.metadata.namespace or ""
    sheets: dict[str, ActionSheet] = {}
    instructions: dict[str, str] = {}
    for ref in agent.spec.skills:
        files = _skill_files(cluster, ref, namespace, fetch_git)
        instructions[ref.name] = _body(files.get(SKILL_MD_KEY, ""))
        if SKILL_SHEET_KEY in files:
            sheets[ref.name] = parse_sheet(files[SKILL_SHEET_KEY], ref.name)
    return sheets, instructions


def parse_sheet(text: str, skill: str) -> ActionSheet:
    """The Action Sheet of ``skill`` from its ``actions.yaml`` text; ``RunInputError`` if bad."""
    try:
        data = yaml.safe_load(text)
        return ActionSheet.model_validate(data if data is not None else {})
    except (yaml.YAMLError, ValidationError) as err:
        detail = _first_error(err)
        raise RunInputError(
            "InvalidActionSheet", f"the actions.yaml of skill {skill!r} is invalid: {detail}"
        ) from err


def secret_from_cluster(cluster: Cluster) -> SecretReader:
    """A ``SecretReader`` that reads (and base64-decodes) the Secret through ``cluster``."""

    def read(tier: TierMapping, auth: ProviderAuthSpec) -> Mapping[str, str]:
        name = auth.secretRef or ""
        where = f"{auth.secretNamespace}/{name}"
        obj = _get(cluster, "v1", "Secret", name, auth.secretNamespace, reason="SecretNotFound")
        try:
            return {
                key: base64.b64decode(value).decode("utf-8")
                for key, value in (obj.get("data") or {}).items()
            }
        except (binascii.Error, UnicodeDecodeError) as err:
            raise RunInputError("InvalidSecret", f"Secret {where} holds undecodable data") from err

    return read


# --------------------------------------------------------------------------- steps


def _get(
    cluster: Cluster, api_version: str, kind: str, name: str, namespace: str | None, *, reason: str
) -> dict[str, Any]:
    where = f"{namespace}/{name}" if namespace else name
    try:
        return cluster.get(api_version, kind, name, namespace)
    except KubeNotFound as err:
        raise RunInputError(reason, f"{kind} {where} was not found") from err
    except KubeError as err:
        raise RunInputError("ClusterError", f"reading {kind} {where} failed: {err}") from err


def _environment(cluster: Cluster, name: str, namespace: str) -> AgentEnvironment:
    obj = _get(
        cluster, GROUP_VERSION, "AgentEnvironment", name, namespace, reason="EnvironmentNotFound"
    )
    try:
        return AgentEnvironment.model_validate(obj)
    except ValidationError as err:
        message = f"AgentEnvironment {namespace}/{name} is invalid"
        raise RunInputError("InvalidEnvironment", message) from err


def _skill_files(
    cluster: Cluster, ref: SkillRef, namespace: str, fetch_git: SkillFetcher | None
) -> Mapping[str, str]:
    source = ref.parsed_source
    if source.kind == "git":
        if fetch_git is None:
            raise RunInputError("SkillNotFound", f"skill {ref.name!r}: git sources are not enabled")
        try:
            return fetch_git(source)
        except InfraAgentError as err:
            message = f"skill {ref.name!r}: fetching {ref.source} failed: {err}"
            raise RunInputError("SkillNotFound", message) from err
    name = skill_configmap_name(ref.name) if source.kind == "repo" else source.configmap or ""
    try:
        obj = _get(cluster, "v1", "ConfigMap", name, namespace, reason="SkillNotFound")
    except RunInputError as err:
        raise RunInputError(err.reason, f"skill {ref.name!r}: {err.message}") from err
    data: dict[str, str] = dict(obj.get("data") or {})
    key = SKILL_MD_KEY if source.kind == "repo" else source.key or SKILL_MD_KEY
    if key not in data:
        message = f"skill {ref.name!r}: ConfigMap {namespace}/{name} has no key {key!r}"
        raise RunInputError("SkillNotFound", message)
    files = {SKILL_MD_KEY: data[key]}
    if SKILL_SHEET_KEY in data:
        files[SKILL_SHEET_KEY] = data[SKILL_SHEET_KEY]
    return files


def _body(skill_md: str) -> str:
    """The instructions of a ``SKILL.md``: the text after its frontmatter, if it has one."""
    lines = skill_md.splitlines()
    if lines and lines[0].strip() == _FRONTMATTER:
        for index in range(1, len(lines)):
            if lines[index].strip() == _FRONTMATTER:
                return "\n".join(lines[index + 1 :]).strip()
    return skill_md.strip()


def _tier_config(cluster: Cluster, agent: InfraAgent) -> ModelTierConfig:
    tier = agent.spec.model.tier
    try:
        items = cluster.list(GROUP_VERSION, "ModelTierConfig").items
    except KubeError as err:
        raise RunInputError("ClusterError", f"listing ModelTierConfigs failed: {err}") from err
    for obj in sorted(items, key=lambda o: str((o.get("metadata") or {}).get("name"))):
        try:
            config = ModelTierConfig.model_validate(obj)
        except ValidationError:
            continue
        if config.spec.tier(tier) is not None:
            return config
    raise RunInputError(
        "ModelTierNotFound", f"no valid ModelTierConfig maps the tier {tier.value!r}"
    )


def _secret(
    tier: TierMapping, auth: ProviderAuthSpec, read_secret: SecretReader
) -> Mapping[str, str]:
    if auth.type is AuthType.NONE or not auth.secretRef:
        return {}
    data = read_secret(tier, auth)
    if auth.type is AuthType.API_KEY and not data.get(auth.secretKey):
        where = f"{auth.secretNamespace}/{auth.secretRef}"
        raise RunInputError("SecretKeyMissing", f"Secret {where} has no key {auth.secretKey!r}")
    return data


def _first_error(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {first.get('msg', '')}" if where else str(first.get("msg", ""))
    return type(err).__name__
