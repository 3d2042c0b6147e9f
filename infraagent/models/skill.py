"""Skills: ``SKILL.md`` frontmatter and the Action Sheet (``actions.yaml``).

An Action Sheet lists every action a skill may take. Each action has an id (unique in the
skill; agents refer to it as ``<skill>/<id>``), a tier ceiling and one or more matchers over
canonical requests (Kubernetes, HTTP, MCP). This module defines and validates them; the
guardrail engine gives them their meaning. A ``data-mutation`` ceiling is refused: data
mutations are never automated, whatever a skill declares.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Final

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from infraagent.models.common import (
    DnsLabel,
    Duration,
    FieldPathError,
    Glob,
    Model,
    bounded_duration,
    glob_problem,
)

KUBE_VERBS: Final = (
    "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"
)  # fmt: skip
HTTP_METHODS: Final = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
_RESOURCE: Final = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(/[a-z]+)?$"
)
_MCP_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _check_verb(value: str) -> str:
    if value != "*" and value not in KUBE_VERBS:
        raise ValueError(
            f"{value!r} is not a Kubernetes verb; use one of {', '.join(KUBE_VERBS)} or '*'"
        )
    return value


def _check_resource(value: str) -> str:
    if value != "*" and not _RESOURCE.match(value):
        raise ValueError(
            f"{value!r} is not a resource; write plural[.group][/subresource] in lower case, "
            "for example deployments.apps, pods, pods/log or deployments.apps/scale"
        )
    return value


def _check_method(value: str) -> str:
    if value != "*" and value not in HTTP_METHODS:
        raise ValueError(
            f"{value!r} is not an HTTP method; use one of {', '.join(HTTP_METHODS)} or '*'"
        )
    return value


def _check_url_glob(value: str) -> str:
    problem = glob_problem(value)
    if problem:
        raise ValueError(problem)
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"URL glob {value!r} must start with http:// or https://")
    return value


Verb = Annotated[str, AfterValidator(_check_verb), WithJsonSchema({"type": "string"})]
Resource = Annotated[str, AfterValidator(_check_resource), WithJsonSchema({"type": "string"})]
Method = Annotated[str, AfterValidator(_check_method), WithJsonSchema({"type": "string"})]
UrlGlob = Annotated[str, AfterValidator(_check_url_glob), WithJsonSchema({"type": "string"})]


class ActionTier(StrEnum):
    """The highest tier an action permits (``data-mutation`` is never permitted)."""

    READ = "read"
    SERVICE_MUTATION = "service-mutation"
    DESTRUCTIVE_MUTATION = "destructive-mutation"


class KubeMatcher(Model):
    """Matches canonical Kubernetes API requests. Every given field must match."""

    verbs: list[Verb] = Field(min_length=1, description="Verbs, or '*'.")
    resources: list[Resource] = Field(
        min_length=1, description="plural[.group][/subresource]; core resources have no group."
    )
    namespaces: list[Glob] | None = Field(
        None, min_length=1, description="Namespace globs; omit only for cluster-scoped resources."
    )
    names: list[Glob] = Field(
        default_factory=lambda: ["*"], min_length=1, description="Name globs."
    )


class HttpMatcher(Model):
    """Matches canonical HTTP requests."""

    methods: list[Method] = Field(min_length=1, description="HTTP methods, or '*'.")
    urls: list[UrlGlob] = Field(min_length=1, description="Globs over the normalised URL.")


class McpMatcher(Model):
    """Matches calls to tools of one MCP server."""

    server: DnsLabel = Field(description="Server name in the environment's mcpServers.")
    tools: list[Glob] = Field(min_length=1, description="Tool name globs.")


class FailAction(StrEnum):
    SKIP = "skip"
    ESCALATE = "escalate"
    ABORT = "abort"


class Precondition(Model):
    """Something that must hold before the action is taken."""

    check: str = Field(min_length=1, max_length=1024, description="What must hold.")
    failAction: FailAction = Field(FailAction.SKIP, description="skip, escalate or abort.")


class Rollback(Model):
    """How to undo the action."""

    description: str = Field(min_length=1, max_length=1024, description="How to undo it.")
    automatic: bool = Field(False, description="Whether the agent may roll back on its own.")
    command: str | None = Field(None, max_length=1024, description="The undoing command.")


class Action(Model):
    """One action a skill may take."""

    id: DnsLabel = Field(description="Unique in the skill; referred to as '<skill>/<id>'.")
    description: str = Field(min_length=1, max_length=1024, description="What the action does.")
    tier: ActionTier = Field(description="Highest tier this action permits.")
    kube: KubeMatcher | None = Field(None, description="Kubernetes request matcher.")
    http: HttpMatcher | None = Field(None, description="HTTP request matcher.")
    mcp: McpMatcher | None = Field(None, description="MCP call matcher.")
    cooldown: Annotated[Duration | None, bounded_duration(timedelta(0), timedelta(days=7))] = Field(
        None, description="Minimum time between two uses by one agent."
    )
    preconditions: list[Precondition] = Field(default_factory=list, description="Checks first.")
    rollback: Rollback | None = Field(None, description="How to undo it.")

    @model_validator(mode="before")
    @classmethod
    def _explain_legacy(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if data.get("tier") == "data-mutation":
            raise FieldPathError(
                "tier 'data-mutation' cannot be declared: data mutations are never automated, "
                "whatever a skill says",
                "tier",
            )
        legacy = sorted(k for k in ("tool", "targetPattern", "pattern") if k in data)
        if legacy:
            raise FieldPathError(
                f"{', '.join(legacy)}: the original matched globs over a tool name and a target "
                "string, which plurals, flag order and qualified names could bypass; declare "
                "what the action does with kube, http or mcp matchers instead",
                legacy[0],
            )
        return data

    @model_validator(mode="after")
    def _has_matcher(self) -> Action:
        if not (self.kube or self.http or self.mcp):
            raise ValueError("an action needs at least one matcher: kube, http or mcp")
        return self


class ActionSheet(Model):
    """The Action Sheet of a skill (``actions.yaml``)."""

    actions: list[Action] = Field(
        default_factory=list, description="Every action the skill may take."
    )

    @field_validator("actions")
    @classmethod
    def _unique_ids(cls, value: list[Action]) -> list[Action]:
        seen: dict[str, int] = {}
        for index, action in enumerate(value):
            if action.id in seen:
                raise FieldPathError(
                    f"action id {action.id!r} is declared twice "
                    f"(first as entry {seen[action.id] + 1})",
                    index,
                    "id",
                )
            seen[action.id] = index
        return value


class SkillManifest(Model):
    """The YAML frontmatter of ``SKILL.md``."""

    name: DnsLabel = Field(description="Skill name; equals its folder name.")
    description: str = Field(min_length=1, max_length=1024, description="What the skill is for.")
    version: str | None = Field(None, max_length=64, description="Version, as a string.")
    license: str | None = Field(None, max_length=64, description="SPDX licence id.")
    tags: list[str] = Field(default_factory=list, max_length=32, description="Tags.")

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_text(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f'version {value!r} is a number; quote it ("{value}") so it is kept exactly'
            )
        return value
