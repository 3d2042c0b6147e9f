"""Parse a call of an MCP tool (``mcp__<server>__<tool>``) into an ``McpCall``.

The server part is a DNS label (``[a-z0-9-]``, as environments name MCP servers), so the
first ``__`` after the prefix ends it; the tool part is ``[A-Za-z0-9_-]`` and may itself
contain ``__``. The input is the tool's own JSON object, carried through unchanged. What
an MCP tool may do is not judged here: the guardrail engine applies the agent's sheets.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from infraagent.models.requests import McpCall, ParseError
from infraagent.tools.names import MAX_TOOL_NAME, MCP_PREFIX

_MCP_NAME: Final = re.compile(r"mcp__([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)__([A-Za-z0-9_-]+)")


def parse_mcp(tool_name: str, tool_input: Mapping[str, Any]) -> McpCall:
    """The ``McpCall`` of one MCP tool call; ``ParseError`` when it is not one."""
    match = _MCP_NAME.fullmatch(tool_name) if len(tool_name) <= MAX_TOOL_NAME else None
    if match is None:
        raise ParseError(
            "parse/unknown-tool",
            f"there is no tool named {tool_name[:80]!r} (MCP tools are "
            f"{MCP_PREFIX}<server>__<tool>)",
        )
    if not isinstance(tool_input, Mapping) or not all(isinstance(k, str) for k in tool_input):
        raise ParseError("parse/invalid-input", "an MCP tool's input must be a JSON object")
    return McpCall(server=match.group(1), tool=match.group(2), arguments=dict(tool_input))
