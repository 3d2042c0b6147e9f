"""Which model a main-job run talks to, and where its key comes from (``cli.models``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from infraagent.cli.models import SCRIPTED_KEY, ModelSource, RunModels
from infraagent.cli.run_cluster import ProviderCache
from infraagent.errors import KubeNotFound
from infraagent.models.modeltier import Provider, ProviderAuthSpec, TierMapping
from infraagent.operator.run_inputs import RunInputError
from infraagent.providers import ProviderConfig
from infraagent.settings import Settings

AUTH = ProviderAuthSpec.model_validate(
    {"type": "apiKey", "secretRef": "llm-api-key", "secretKey": "api-key",
     "secretNamespace": "infraagent-system"}
)  # fmt: skip


def _tier(provider: str) -> TierMapping:
    return TierMapping.model_validate({"tier": "fast", "provider": provider, "model": "m-1"})


class _NoSecrets:
    """A cluster without Secrets: every read is a 404, as on a fresh control plane."""

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        raise KubeNotFound(f"{kind} {namespace}/{name} not found", status=404)


def _models(source: ModelSource, keys: Mapping[str, str]) -> RunModels:
    settings = Settings(llm_api_keys=keys)
    return RunModels(source, settings, _NoSecrets())  # type: ignore[arg-type]


def test_the_environment_key_serves_its_provider_and_the_scripted_model_the_others() -> None:
    models = _models(ModelSource.ENVIRONMENT, {"anthropic": "sk-ant-from-the-environment"})
    assert not models.scripted_for(_tier("anthropic"))
    assert models.read_secret(_tier("anthropic"), AUTH) == {
        "api-key": "sk-ant-from-the-environment"
    }
    assert models.scripted_for(_tier("openai"))
    assert models.read_secret(_tier("openai"), AUTH) == {"api-key": SCRIPTED_KEY}
    assert models.known_secrets == ["sk-ant-from-the-environment"], "redacted everywhere"


def test_scripted_means_scripted_even_with_a_key_in_the_environment() -> None:
    models = _models(ModelSource.SCRIPTED, {"anthropic": "sk-ant-from-the-environment"})
    assert models.scripted_for(_tier("anthropic"))
    assert models.read_secret(_tier("anthropic"), AUTH) == {"api-key": SCRIPTED_KEY}


def test_on_a_cluster_the_key_comes_from_the_secret_and_a_missing_one_fails_the_run() -> None:
    models = _models(ModelSource.CLUSTER, {"anthropic": "sk-ant-ignored-on-a-cluster"})
    assert not models.scripted_for(_tier("anthropic"))
    with pytest.raises(RunInputError) as caught:
        models.read_secret(_tier("anthropic"), AUTH)
    assert caught.value.reason == "SecretNotFound"
    assert "infraagent-system/llm-api-key" in caught.value.message


def test_runs_with_the_same_configuration_share_one_provider_client() -> None:
    cache = ProviderCache(size=2)
    url = "http://127.0.0.1:9"
    one = ProviderConfig(Provider.ANTHROPIC, "m-1", endpoint=url, api_key="k1")
    assert cache(one) is cache(dataclasses.replace(one)), "an equal configuration, one client"
    other_key = dataclasses.replace(one, api_key="k2")
    assert cache(other_key) is not cache(one), "a rotated key gets its own client"
    third = ProviderConfig(Provider.OPENAI, "m-2", endpoint=url, api_key="k3")
    first = cache(one)
    cache(third)
    cache(other_key)  # the cache holds two: 'one' is now the oldest and goes
    assert cache(one) is not first
