"""The Anthropic provider: the Messages API with tool use and prompt caching.

``AnthropicProvider.complete`` sends one ``messages.create`` through the official SDK and
returns a provider-neutral ``Completion``. The key travels as ``x-api-key`` (the header the
Messages API documents) and the SDK's own ``Authorization`` header is omitted; an explicit
base URL and (empty) SDK key are always passed so the SDK never picks a credential or an
endpoint up from the environment or a profile on disk. The SDK's retries are off: the
shared loop in ``providers.retry`` retries 408/409/429/5xx/529 and timeouts, honouring
``Retry-After``; 401/403 and 404 fail at once.

This package is the only importer of ``anthropic``; no SDK type leaves it. It does not
stream and does not count tokens locally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anthropic

from infraagent.models.conversation import Completion, CompletionRequest
from infraagent.providers.anthropic.translate import to_completion, to_request
from infraagent.providers.base import RetryingProvider
from infraagent.providers.endpoints import anthropic_base_url
from infraagent.providers.failures import (
    SdkErrors,
    describe,
)
from infraagent.providers.retry import RetryPolicy

if TYPE_CHECKING:
    from infraagent.providers import ProviderConfig


class AnthropicProvider(RetryingProvider):
    """A ``ModelProvider`` backed by the Anthropic Messages API."""

    errors = SdkErrors(
        anthropic.APIStatusError,
        anthropic.APITimeoutError,
        anthropic.APIConnectionError,
        (anthropic.AnthropicError,),
    )

    def __init__(
        self,
        config: ProviderConfig,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base_url = anthropic_base_url(config.endpoint)
        where = describe("anthropic", config.model, base_url)
        super().__init__(config, where, policy=policy, sleep=sleep)
        self._auth: dict[str, str | anthropic.Omit] = {}
        if not config.has_header("authorization"):
            self._auth["Authorization"] = anthropic.omit
        if config.api_key:
            self._auth["X-Api-Key"] = config.api_key
        self._client = anthropic.Anthropic(
            api_key="",  # explicit, so the SDK reads no credential from the environment or disk
            base_url=base_url,
            timeout=config.timeout_seconds,
            max_retries=0,
            default_headers=dict(config.headers),
        )

    def complete(self, request: CompletionRequest) -> Completion:
        """One completion, retried within the budget; raises ``ProviderError``."""
        params = to_request(request)

        def attempt() -> Completion:
            message = self._client.messages.create(
                model=request.model or self._config.model,
                max_tokens=request.max_output_tokens,
                system=params.system or anthropic.omit,
                tools=params.tools or anthropic.omit,
                tool_choice=(
                    {"type": "none"}
                    if params.tools and request.tool_choice == "none"
                    else anthropic.omit
                ),
                messages=params.messages,
                extra_headers=self._auth,
            )
            return to_completion(message)

        return self._retrying(attempt)


__all__ = ["AnthropicProvider"]
