"""Label and annotation keys, and generated object names, shared by the operator's parts.

One place, so the reconciler that writes a key and the scheduler or runner that reads it
can never disagree about its spelling.
"""

from __future__ import annotations

from typing import Final

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "infraagent"

# Objects the reconciler applies from a FleetSource.
SOURCE_NAME_LABEL: Final = "infraagent.io/source-name"
SOURCE_NAMESPACE_LABEL: Final = "infraagent.io/source-namespace"
SOURCE_REVISION_ANNOTATION: Final = "infraagent.io/source-revision"
SOURCE_PATH_ANNOTATION: Final = "infraagent.io/source-path"
PRUNE_ANNOTATION: Final = "infraagent.io/prune"
PRUNE_DISABLED: Final = "disabled"

# Skills as ConfigMaps: one per skill, in the namespace of the agents that use it.
SKILL_LABEL: Final = "infraagent.io/skill"
SKILL_MD_KEY: Final = "SKILL.md"
SKILL_SHEET_KEY: Final = "actions.yaml"
SKILL_CONFIGMAP_PREFIX: Final = "infraagent-skill-"

# Runs.
AGENT_LABEL: Final = "infraagent.io/agent"
RUN_NOW_ANNOTATION: Final = "infraagent.io/run-now"


def skill_configmap_name(skill: str) -> str:
    """The name of the ConfigMap that holds repository skill ``skill``."""
    return f"{SKILL_CONFIGMAP_PREFIX}{skill}"
