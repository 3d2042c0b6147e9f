"""InfraAgent: scheduled LLM agents for Kubernetes under deterministic guardrails.

The package is layered (see the import-linter contracts in ``pyproject.toml``): the
vocabulary (``models``, ``errors``, ``settings``, ``cron``) at the bottom, adapters to real I/O
at the edge, and the command line (``cli``) as the only composition root.
"""

__version__ = "0.2.0.dev0"
