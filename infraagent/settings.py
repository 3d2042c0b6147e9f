"""Settings from the process environment: the only module that reads environment variables.

``Settings.from_environ`` takes the environment as a mapping (the command line passes
``os.environ``; tests pass a dict), so nothing else in the package looks at ``os.environ``.
It deliberately holds plain values only and opens nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """What the environment configures.

    ``github_step_summary``: the file GitHub Actions renders as the job summary
    (``GITHUB_STEP_SUMMARY``); None outside GitHub Actions.
    """

    github_step_summary: Path | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from ``environ``; an empty variable counts as unset."""
        summary = environ.get("GITHUB_STEP_SUMMARY", "").strip()
        return cls(github_step_summary=Path(summary) if summary else None)
