"""The vocabulary of InfraAgent: custom-resource models, skills and diagnostics.

Every model is a frozen pydantic model that forbids unknown fields. ``KINDS`` maps each
custom-resource kind to its model; ``crd`` turns these models into CRD manifests.
"""

from __future__ import annotations

from typing import Final

from infraagent.models.agent import (
    Autonomy,
    InfraAgent,
    InfraAgentSpec,
    InfraAgentStatus,
    ModelTier,
)
from infraagent.models.agentrun import AgentRun, AgentRunSpec, AgentRunStatus, Decision, Tier
from infraagent.models.common import API_GROUP, API_VERSION, GROUP_VERSION, FieldPathError, Model
from infraagent.models.diagnostics import Diagnostic, DiagnosticSeverity
from infraagent.models.environment import AgentEnvironment, AgentEnvironmentSpec
from infraagent.models.fleetsource import FleetSource, FleetSourceSpec, FleetSourceStatus
from infraagent.models.modeltier import ModelTierConfig, ModelTierConfigSpec
from infraagent.models.skill import Action, ActionSheet, ActionTier, SkillManifest
from infraagent.models.skillref import SkillRef, parse_skill_source

Resource = InfraAgent | AgentEnvironment | ModelTierConfig | AgentRun | FleetSource

KINDS: Final[dict[str, type[Resource]]] = {
    "InfraAgent": InfraAgent,
    "AgentEnvironment": AgentEnvironment,
    "ModelTierConfig": ModelTierConfig,
    "AgentRun": AgentRun,
    "FleetSource": FleetSource,
}
"""Every custom-resource kind, by name."""

CLUSTER_SCOPED: Final = frozenset({"ModelTierConfig"})

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "CLUSTER_SCOPED",
    "GROUP_VERSION",
    "KINDS",
    "Action",
    "ActionSheet",
    "ActionTier",
    "AgentEnvironment",
    "AgentEnvironmentSpec",
    "AgentRun",
    "AgentRunSpec",
    "AgentRunStatus",
    "Autonomy",
    "Decision",
    "Diagnostic",
    "DiagnosticSeverity",
    "FieldPathError",
    "FleetSource",
    "FleetSourceSpec",
    "FleetSourceStatus",
    "InfraAgent",
    "InfraAgentSpec",
    "InfraAgentStatus",
    "Model",
    "ModelTier",
    "ModelTierConfig",
    "ModelTierConfigSpec",
    "Resource",
    "SkillManifest",
    "SkillRef",
    "Tier",
    "parse_skill_source",
]
