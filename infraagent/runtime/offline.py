"""A tool executor for runs with no cluster and no network configured.

``infraagent run`` without a cluster still judges every call and records it; allowed
calls get this executor's answer, which says plainly that nothing was executed. It
touches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infraagent.models.requests import CanonicalRequest
from infraagent.ports import ToolOutput


class OfflineExecutor:
    """Answers every allowed call with "not executed: no cluster or network configured"."""

    def execute(
        self, tool: str, arguments: Mapping[str, Any], requests: tuple[CanonicalRequest, ...]
    ) -> ToolOutput:
        what = "; ".join(r.summary() for r in requests) or tool
        return ToolOutput(
            f"not executed: this local run has no cluster or network configured ({what})",
            is_error=True,
        )
