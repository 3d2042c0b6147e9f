"""The OpenAI provider: Chat Completions with tools, for OpenAI and compatible servers.

``OpenAIProvider.complete`` sends one ``chat.completions.create`` through the official SDK
and returns a provider-neutral ``Completion``. It serves ``openai`` and the OpenAI-compatible
providers (``openai-compatible``, ``ollama``, ``vllm``) alike, with two differences:

- the output cap is ``max_completion_tokens`` for OpenAI proper (``max_tokens`` is
  deprecated there and refused by reasoning models) and ``max_tokens`` for compatible
  servers (Ollama, older vLLM and llama.cpp servers, Kimi and most proxies read only that);
- the base URL goes through ``openai_base_url``: ``http://host:11434``,
  ``http://host:11434/`` and ``http://host:11434/v1/`` all reach ``/v1/chat/completions``.

The key travels as ``Authorization: Bearer``; without one (auth ``none``), the SDK gets a
placeholder and the header is omitted, so nothing is read from the environment. Retries
are the shared loop in ``providers.retry`` (the SDK's are off).

This package is the only importer of ``openai``; no SDK type leaves it. It does not stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import openai

from infraagent.models.conversation import Completion, CompletionRequest
from infraagent.models.modeltier import Provider
from infraagent.providers.base import RetryingProvider
from infraagent.providers.endpoints import openai_base_url
from infraagent.providers.failures import (
    SdkErrors,
    describe,
)
from infraagent.providers.openai.translate import (
    EmptyAnswer,
    to_completion,
    to_messages,
    to_tools,
)
from infraagent.providers.retry import RetryPolicy

if TYPE_CHECKING:
    from infraagent.providers import ProviderConfig

_NO_KEY = "no-key"


class OpenAIProvider(RetryingProvider):
    """A ``ModelProvider`` backed by an OpenAI Chat Completions endpoint."""

    errors = SdkErrors(
        openai.APIStatusError,
        openai.APITimeoutError,
        openai.APIConnectionError,
        (openai.OpenAIError, EmptyAnswer),
    )

    def __init__(
        self,
        config: ProviderConfig,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base_url = openai_base_url(config.endpoint)
        where = describe(config.provider.value, config.model, base_url)
        super().__init__(config, where, policy=policy, sleep=sleep)
        self._auth: dict[str, str | openai.Omit] = {}
        if not config.api_key and not config.has_header("authorization"):
            self._auth["Authorization"] = openai.omit
        self._client = openai.OpenAI(
            api_key=config.api_key or _NO_KEY,
            base_url=base_url,
            timeout=config.timeout_seconds,
            max_retries=0,
            default_headers=dict(config.headers),
        )
        # The SDK fills these from OPENAI_ORG_ID / OPENAI_PROJECT_ID; the tier's headers decide.
        self._client.organization = self._client.project = None

    def complete(self, request: CompletionRequest) -> Completion:
        """One completion, retried within the budget; raises ``ProviderError``."""
        messages = to_messages(request)
        tools = to_tools(request)
        cap = request.max_output_tokens
        proper = self._config.provider is Provider.OPENAI

        def attempt() -> Completion:
            completion = self._client.chat.completions.create(
                model=request.model or self._config.model,
                messages=messages,
                tools=tools or openai.omit,
                tool_choice="none" if tools and request.tool_choice == "none" else openai.omit,
                max_completion_tokens=cap if proper else openai.omit,
                max_tokens=openai.omit if proper else cap,
                extra_headers=self._auth,
            )
            return to_completion(completion)

        return self._retrying(attempt)


__all__ = ["OpenAIProvider"]
