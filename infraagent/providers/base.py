"""What both SDK providers share: configuration, the retry loop and error classification.

A provider subclass builds its SDK client and one ``attempt`` per completion; this base
runs the attempt under the bounded retry policy and turns SDK exceptions into
``ProviderError`` through its ``SdkErrors``. It imports no SDK itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from infraagent.models.conversation import Completion
from infraagent.providers.failures import SdkErrors, scrub, sdk_failure
from infraagent.providers.retry import Failure, RetryPolicy, run_with_retries


class RetryingProvider:
    """The retrying skeleton of a ``ModelProvider``; subclasses set ``errors`` and ``_client``."""

    errors: ClassVar[SdkErrors]
    _client: Any

    def __init__(
        self,
        config: Any,
        where: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._where = where
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    def _retrying(self, attempt: Callable[[], Completion]) -> Completion:
        """``attempt`` retried within the budget; raises ``ProviderError``."""
        return run_with_retries(
            attempt,
            self._classify,
            retries=self._policy.retries(self._config.max_retries),
            policy=self._policy,
            sleep=self._sleep,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _classify(self, exc: Exception) -> Failure | None:
        failure = sdk_failure(self.errors, self._where, self._config.timeout_seconds, exc)
        return None if failure is None else scrub(failure, self._config.secrets())
