"""The cluster-scoped ``ModelTierConfig``: which provider and model serve each tier.

Agents name a tier (fast, standard, reasoning); this resource maps it to a provider, a
model, an endpoint, credentials and prices. Nothing in this module does I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from infraagent.models.agent import ModelTier
from infraagent.models.common import (
    GROUP_VERSION,
    Condition,
    DnsLabel,
    DnsSubdomain,
    FieldPathError,
    Model,
    ObjectMeta,
    conditions_field,
)
from infraagent.models.environment import HttpUrl

DECIMAL_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6})?$"


class AuthType(StrEnum):
    API_KEY = "apiKey"
    CUSTOM = "custom"
    NONE = "none"


class ProviderAuthSpec(Model):
    """How to authenticate to a provider. Secrets live in ``secretNamespace``."""

    type: AuthType = Field(
        description=(
            "apiKey (one key from the Secret), custom (every Secret key is a header) or none."
        )
    )
    secretRef: DnsSubdomain | None = Field(None, description="Secret with the credentials.")
    secretKey: str = Field("api-key", max_length=253, description="Key of the API key (apiKey).")
    secretNamespace: DnsLabel = Field(
        "infraagent-system",
        description="Namespace of the Secret (this resource is cluster-scoped).",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra, non-secret HTTP headers sent with every call."
    )

    @model_validator(mode="before")
    @classmethod
    def _explain_unimplemented(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("type") in ("oauth", "serviceAccount"):
            raise FieldPathError(
                f"auth type {data['type']!r} was accepted but never implemented by the original; "
                "use apiKey, custom or none",
                "type",
            )
        return data

    @model_validator(mode="after")
    def _secret_given(self) -> ProviderAuthSpec:
        if self.type is not AuthType.NONE and not self.secretRef:
            raise ValueError(f"auth type {self.type.value!r} needs secretRef")
        return self


class Provider(StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    OPENAI_COMPATIBLE = "openai-compatible"
    OLLAMA = "ollama"
    VLLM = "vllm"


_NEEDS_ENDPOINT = {Provider.OPENAI_COMPATIBLE, Provider.OLLAMA, Provider.VLLM}

Price = Annotated[str, Field(pattern=DECIMAL_PATTERN, max_length=16)]


class TierMapping(Model):
    """One tier's provider, model and prices."""

    tier: ModelTier = Field(description="fast, standard or reasoning.")
    provider: Provider = Field(
        description=(
            "anthropic, openai, or an OpenAI-compatible server: openai-compatible, ollama, vllm."
        )
    )
    model: str = Field(min_length=1, max_length=256, description="Provider's model id.")
    endpoint: HttpUrl | None = Field(
        None, description="Base URL; required for openai-compatible, ollama and vllm."
    )
    auth: ProviderAuthSpec | None = Field(None, description="Overrides defaultAuth for this tier.")
    maxTokens: int = Field(4096, ge=1, le=200_000, description="Output tokens per call.")
    costPerMillionInput: Price = Field("0", description="USD per million input tokens.")
    costPerMillionOutput: Price = Field("0", description="USD per million output tokens.")

    @model_validator(mode="after")
    def _endpoint_given(self) -> TierMapping:
        if self.provider in _NEEDS_ENDPOINT and not self.endpoint:
            raise ValueError(f"provider {self.provider.value!r} needs an endpoint base URL")
        return self


class ModelTierConfigSpec(Model):
    """Tier to provider mapping."""

    defaultAuth: ProviderAuthSpec | None = Field(
        None, description="Auth for tiers without their own."
    )
    tiers: list[TierMapping] = Field(min_length=1, max_length=3, description="One entry per tier.")

    @model_validator(mode="after")
    def _unique_tiers(self) -> ModelTierConfigSpec:
        seen: set[ModelTier] = set()
        for index, mapping in enumerate(self.tiers):
            if mapping.tier in seen:
                raise FieldPathError(
                    f"tier {mapping.tier.value!r} is mapped twice", "tiers", index, "tier"
                )
            seen.add(mapping.tier)
        for index, mapping in enumerate(self.tiers):
            if mapping.provider is not Provider.OLLAMA and not (mapping.auth or self.defaultAuth):
                raise FieldPathError(
                    f"tier {mapping.tier.value!r} has no auth and there is no defaultAuth "
                    "(use type 'none' for servers without authentication)",
                    "tiers",
                    index,
                )
        return self

    def tier(self, name: ModelTier) -> TierMapping | None:
        """The mapping for ``name``, if any."""
        return next((m for m in self.tiers if m.tier is name), None)


class ModelTierConfigStatus(Model):
    """Observed state of the tier configuration."""

    observedGeneration: int | None = Field(None, ge=0, description="Generation last acted on.")
    ready: bool | None = Field(None, description="Every tier's credentials resolve.")
    tierStatus: dict[str, str] = Field(default_factory=dict, description="Per-tier state.")
    conditions: list[Condition] = conditions_field()


class ModelTierConfig(Model):
    """Cluster-wide mapping of model tiers to providers and models."""

    apiVersion: Literal["core.infraagent.io/v1alpha1"] = Field(description=GROUP_VERSION)
    kind: Literal["ModelTierConfig"] = Field(description="ModelTierConfig")
    metadata: ObjectMeta = Field(description="Standard object metadata.")
    spec: ModelTierConfigSpec = Field(description="Tier to provider mapping.")
    status: ModelTierConfigStatus | None = Field(None, description="The observed state.")
