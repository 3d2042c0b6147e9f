"""The error tree of InfraAgent.

Every error the package raises on purpose is an ``InfraAgentError``. Adapters raise these,
chained from the SDK error they caught; the step that catches one decides whether to retry
or stop. Tool failures are not errors: they are data returned to the model.
"""


class InfraAgentError(Exception):
    """Base class of every error InfraAgent raises on purpose."""


class UsageError(InfraAgentError):
    """The command line was used wrongly (exit status 2)."""


class ProviderError(InfraAgentError):
    """A model provider failed. ``retryable`` says whether trying again could help."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider refused the credentials (401/403): fails at once."""


class ProviderModelNotFound(ProviderError):
    """The provider does not know the model (404 / model_not_found): fails at once."""


class ProviderResponseError(ProviderError):
    """The provider answered with something that is not a usable completion."""


class KubeError(InfraAgentError):
    """A Kubernetes API call failed. ``status`` is the HTTP status (None: no answer at all)."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeNotFound(KubeError):
    """The object, or its kind, does not exist (404)."""


class KubeConflict(KubeError):
    """The write conflicts: it already exists, or a stale resourceVersion (409)."""


class KubeForbidden(KubeError):
    """RBAC or admission refused the request (403)."""


class KubeInvalid(KubeError):
    """The server refused the object as invalid (422)."""


class GitError(InfraAgentError):
    """A Git operation failed; ``reason`` is a CamelCase word for status conditions.

    The message never holds a credential (URLs are shown without their user-info).
    """

    reason = "GitOperationFailed"


class GitAuthError(GitError):
    """The remote refused the credentials (or none were given where some are needed)."""

    reason = "AuthenticationFailed"


class GitRefNotFound(GitError):
    """The repository or the branch/ref does not exist on the remote."""

    reason = "RefNotFound"


class GitUnreachable(GitError):
    """The remote could not be reached (DNS, refused connection, timeout)."""

    reason = "RemoteUnreachable"


class GitPushRejected(GitError):
    """A push was still rejected after the bounded number of rebase-and-retry attempts."""

    reason = "PushRejected"
