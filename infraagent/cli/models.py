"""Which language model a run of the main job talks to: a real provider, or the scripted one.

``RunModels`` gives run execution its ``model_for`` and ``read_secret``:

- ``cluster`` (the operator on a real cluster): the tier's key comes from the Secret its
  auth names, the provider is the tier's real one.
- ``environment``: the key comes from this process's environment (``ANTHROPIC_API_KEY``,
  ``OPENAI_API_KEY``, ``INFRAAGENT_LLM_API_KEY``); a tier whose provider has no key there is
  served by the scripted model instead, so a demo never fails for want of a key.
- ``scripted``: every run talks to a local ``ScriptedServer`` (the real SDK over HTTP,
  Anthropic wire format) playing ``demo_script`` for that agent: its reads, one mutating
  action its skills declare (executed or proposed, as its autonomy says), and a report. One
  server per run; each stops once its script is played, and ``close`` stops any left.

Keys never leave ``read_secret`` → ``model_for``; ``known_secrets`` lists them for the
``Redactor``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from infraagent.cli.run_cluster import ProviderCache
from infraagent.models.conversation import Completion, CompletionRequest
from infraagent.models.modeltier import Provider, ProviderAuthSpec, TierMapping
from infraagent.operator.run_inputs import RunInputs, secret_from_cluster
from infraagent.ports import Cluster, ModelProvider
from infraagent.providers import ProviderConfig, config_for_tier, make_provider
from infraagent.providers.scripted import ScriptedServer
from infraagent.providers.scripted.demo import demo_script
from infraagent.settings import Settings

SCRIPTED_KEY: Final = "scripted-model-no-key"


class ModelSource(StrEnum):
    CLUSTER = "cluster"
    ENVIRONMENT = "environment"
    SCRIPTED = "scripted"


class _Played:
    """A provider over one scripted server that stops the server once its script is played."""

    def __init__(self, server: ScriptedServer, provider: ModelProvider) -> None:
        self._server, self._provider = server, provider

    def complete(self, request: CompletionRequest) -> Completion:
        try:
            return self._provider.complete(request)
        finally:
            if self._server.remaining == 0:
                self._server.stop()


class RunModels:
    """``model_for`` and ``read_secret`` for run execution (see the module docstring)."""

    def __init__(self, source: ModelSource, settings: Settings, cluster: Cluster) -> None:
        self.source = source
        self._keys = dict(settings.llm_api_keys)
        self._cluster_secret = secret_from_cluster(cluster)
        self._servers: list[ScriptedServer] = []
        self._providers = ProviderCache()
        self._lock = threading.Lock()

    @property
    def known_secrets(self) -> list[str]:
        """The keys this process holds, for redaction."""
        return list(self._keys.values())

    def scripted_for(self, tier: TierMapping) -> bool:
        """Whether runs of ``tier`` get the scripted model."""
        if self.source is ModelSource.SCRIPTED:
            return True
        return self.source is ModelSource.ENVIRONMENT and tier.provider.value not in self._keys

    def read_secret(self, tier: TierMapping, auth: ProviderAuthSpec) -> Mapping[str, str]:
        """The tier's credentials: from the cluster, the environment, or a placeholder."""
        if self.source is ModelSource.CLUSTER:
            return self._cluster_secret(tier, auth)
        if self.scripted_for(tier):
            return {auth.secretKey: SCRIPTED_KEY}
        return {auth.secretKey: self._keys[tier.provider.value]}

    def model_for(self, inputs: RunInputs) -> ModelProvider:
        """The provider of one run."""
        if not self.scripted_for(inputs.tier):
            return self._providers(config_for_tier(inputs.tier, inputs.default_auth, inputs.secret))
        script = demo_script(inputs.agent, inputs.sheets, inputs.environment)
        server = ScriptedServer(script).start()
        with self._lock:
            self._servers.append(server)
        config = ProviderConfig(
            Provider.ANTHROPIC, inputs.tier.model, endpoint=server.url, timeout_seconds=30
        )
        return _Played(server, make_provider(config))

    def close(self) -> None:
        """Stop every scripted server still running."""
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            server.stop()
