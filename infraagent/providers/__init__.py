"""Model providers: the edge where the agent runtime reaches a language model.

This package holds ``ProviderConfig`` (what one model tier resolves to: provider, model,
endpoint, credentials, timeout, retry budget) and ``make_provider``, which builds the
matching ``ModelProvider``. Each SDK has exactly one home: ``anthropic`` is imported only in
``providers.anthropic``, ``openai`` only in ``providers.openai``; the factory imports them
lazily, so a missing or broken SDK only breaks its own provider. ``providers.scripted`` is
a local server that speaks both wire formats from a script, for tests and demos.

It deliberately does not resolve Secrets or read the environment: the caller hands over the
API key and headers it already resolved (``custom`` auth is just headers here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from types import MappingProxyType
from typing import cast

from infraagent.errors import UsageError
from infraagent.models.modeltier import AuthType, Provider, ProviderAuthSpec, TierMapping
from infraagent.ports import ModelProvider
from infraagent.providers.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One resolved model tier.

    ``endpoint`` is the base URL (None: the provider's public API). ``api_key`` is sent the
    way the provider expects (``x-api-key`` for Anthropic, ``Authorization: Bearer`` for
    OpenAI and compatible servers); None sends no credential. ``headers`` are added to every
    request (``custom`` auth puts its Secret keys here). ``max_retries`` counts retries after
    the first attempt. Neither the key nor the headers appear in ``repr``.
    """

    provider: Provider
    model: str
    endpoint: str | None = None
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout_seconds: float = 120.0
    max_retries: int = 3

    def __post_init__(self) -> None:
        # A private, read-only copy: changing the caller's dict later changes nothing here.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        if not self.model:
            raise ValueError("ProviderConfig.model must not be empty")
        if self.timeout_seconds <= 0:
            raise ValueError("ProviderConfig.timeout_seconds must be positive")
        if self.max_retries < 0:
            raise ValueError("ProviderConfig.max_retries must not be negative")

    def has_header(self, name: str) -> bool:
        """Whether ``headers`` sets ``name`` (case-insensitive)."""
        return any(key.lower() == name.lower() for key in self.headers)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in an error message: the key and header values."""
        values = [self.api_key or "", *self.headers.values()]
        return tuple(v for v in values if len(v) >= 4)


_MODULES = {
    Provider.ANTHROPIC: ("infraagent.providers.anthropic", "AnthropicProvider"),
    Provider.OPENAI: ("infraagent.providers.openai", "OpenAIProvider"),
    Provider.OPENAI_COMPATIBLE: ("infraagent.providers.openai", "OpenAIProvider"),
    Provider.OLLAMA: ("infraagent.providers.openai", "OpenAIProvider"),
    Provider.VLLM: ("infraagent.providers.openai", "OpenAIProvider"),
}


def config_for_tier(
    tier: TierMapping,
    default_auth: ProviderAuthSpec | None,
    secret: Mapping[str, str],
    *,
    timeout_seconds: float = 120.0,
) -> ProviderConfig:
    """The provider configuration of a tier, given the data of its auth Secret.

    ``apiKey`` takes the key named ``secretKey``; ``custom`` turns every Secret key into a
    header; ``none`` sends no credentials. The tier's own ``auth`` wins over the default.
    Error messages name the Secret and key, never a value.
    """
    auth = tier.auth or default_auth
    headers = dict(auth.headers) if auth else {}
    key: str | None = None
    if auth is not None and auth.type is AuthType.API_KEY:
        key = secret.get(auth.secretKey)
        if not key:
            where = f"{auth.secretNamespace}/{auth.secretRef}"
            raise UsageError(
                f"Secret {where} has no key {auth.secretKey!r} for tier {tier.tier.value}"
            )
    elif auth is not None and auth.type is AuthType.CUSTOM:
        headers.update(secret)
    return ProviderConfig(
        tier.provider, tier.model, tier.endpoint, key, headers, timeout_seconds=timeout_seconds
    )


def make_provider(
    config: ProviderConfig,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ModelProvider:
    """Build the provider ``config`` names, importing only that provider's SDK.

    ``policy`` sets the backoff (its retry count defaults to ``config.max_retries``);
    ``sleep`` is injectable so tests can see the waits without waiting.
    """
    module_name, class_name = _MODULES[config.provider]
    provider_class = getattr(import_module(module_name), class_name)
    return cast(ModelProvider, provider_class(config, policy=policy, sleep=sleep))


__all__ = ["ProviderConfig", "RetryPolicy", "make_provider"]
