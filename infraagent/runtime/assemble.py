"""Assemble what one run needs from the models: prompt, tools, policy, settings.

The command line and the operator both start runs from an agent, its environment, its
skills and its model tier; this is the one place that turns those into the loop's
inputs. It does no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from infraagent.guardrails.policy import build_policy
from infraagent.guardrails.verdict import CooldownState
from infraagent.models.agent import InfraAgent
from infraagent.models.common import parse_duration
from infraagent.models.environment import AgentEnvironment
from infraagent.models.modeltier import TierMapping
from infraagent.models.skill import ActionSheet
from infraagent.runtime.loop import AgentInput, RunSettings
from infraagent.runtime.prompt import LoadedSkill, assemble_system_prompt
from infraagent.tools.specs import tool_specs


def agent_input(
    agent: InfraAgent,
    environment: AgentEnvironment | None,
    sheets: Mapping[str, ActionSheet],
    instructions: Mapping[str, str],
    cooldowns: CooldownState | None = None,
) -> AgentInput:
    """The loop's view of ``agent``: its system prompt, tools and compiled policy."""
    skills = [
        LoadedSkill(ref.name, instructions.get(ref.name, ""), sheets.get(ref.name, ActionSheet()))
        for ref in agent.spec.skills
    ]
    return AgentInput(
        system=assemble_system_prompt(agent, environment, skills),
        tools=tool_specs(skill.sheet for skill in skills),
        policy=build_policy(agent, environment, sheets),
        cooldowns=cooldowns or CooldownState(),
    )


def run_settings(
    agent: InfraAgent, tier: TierMapping | None, model: str | None = None
) -> RunSettings:
    """Budgets from the agent, output cap and model from its tier (``model`` overrides)."""
    spec = agent.spec
    max_output = tier.maxTokens if tier else 4096
    return RunSettings(
        model=model or (tier.model if tier else "unknown"),
        max_iterations=spec.guardrails.maxIterations,
        token_budget=spec.model.tokenBudget,
        timeout=parse_duration(spec.model.timeout) or timedelta(seconds=120),
        max_output_tokens=min(max_output, max(256, spec.model.tokenBudget // 4)),
        history_tokens=max(2_000, spec.model.tokenBudget // 4),
    )
