"""The error tree of InfraAgent.

Every error the package raises on purpose is an ``InfraAgentError``. Adapters raise these,
chained from the SDK error they caught; the step that catches one decides whether to retry
or stop. Tool failures are not errors: they are data returned to the model.
"""


class InfraAgentError(Exception):
    """Base class of every error InfraAgent raises on purpose."""


class DefinitionError(InfraAgentError):
    """A fleet definition (agent, environment, skill, model tiers) is invalid."""


class UsageError(InfraAgentError):
    """The command line was used wrongly (exit status 2)."""
