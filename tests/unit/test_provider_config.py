"""A tier's auth and its Secret become the provider configuration, as the docs promise."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.errors import UsageError
from infraagent.models.modeltier import ProviderAuthSpec, TierMapping
from infraagent.providers import config_for_tier


def tier(**fields: Any) -> TierMapping:
    return TierMapping.model_validate(
        {"tier": "fast", "provider": "anthropic", "model": "m", **fields}
    )


def auth(kind: str, **fields: Any) -> ProviderAuthSpec:
    return ProviderAuthSpec.model_validate({"type": kind, "secretRef": "llm", **fields})


def test_api_key_takes_the_named_key_only() -> None:
    config = config_for_tier(
        tier(),
        auth("apiKey", secretKey="key", headers={"x-team": "ops"}),
        {"key": "sk-1", "other": "x"},
    )
    assert (config.api_key, dict(config.headers)) == ("sk-1", {"x-team": "ops"})


def test_custom_turns_every_secret_key_into_a_header() -> None:
    config = config_for_tier(tier(), auth("custom"), {"x-api-token": "t-1", "x-org": "acme"})
    assert config.api_key is None
    assert dict(config.headers) == {"x-api-token": "t-1", "x-org": "acme"}


def test_the_tiers_own_auth_wins_and_none_sends_nothing() -> None:
    own = tier(auth={"type": "none"}, provider="ollama", endpoint="http://ollama:11434")
    config = config_for_tier(own, auth("apiKey"), {"api-key": "sk-default"})
    assert (config.api_key, dict(config.headers)) == (None, {})


def test_a_missing_key_names_the_secret_not_a_value() -> None:
    with pytest.raises(UsageError) as raised:
        config_for_tier(tier(), auth("apiKey", secretKey="api-key"), {"wrong": "sk-secret-value"})
    message = str(raised.value)
    assert "infraagent-system/llm" in message and "'api-key'" in message
    assert "sk-secret-value" not in message
