"""The names of the tools the model sees, and the rule every tool name follows.

Providers accept tool names of ``[a-zA-Z0-9_-]`` only (no dots), at most 64 characters.
MCP tools are offered as ``mcp__<server>__<tool>``. This module holds names only: parsing a
call is done by the parser of each tool.
"""

from __future__ import annotations

import re
from typing import Final

KUBECTL_TOOL: Final = "kubectl"
HTTP_TOOL: Final = "http_request"
MCP_PREFIX: Final = "mcp__"
MAX_TOOL_NAME: Final = 64
"""The longest tool name every provider accepts."""

_TOOL_NAME: Final = re.compile(rf"[a-zA-Z0-9_-]{{1,{MAX_TOOL_NAME}}}")


def is_valid_tool_name(name: str) -> bool:
    """Whether ``name`` uses only ``[a-zA-Z0-9_-]`` and is 1 to 64 characters long."""
    return _TOOL_NAME.fullmatch(name) is not None


def check_tool_name(name: str) -> str:
    """``name`` itself when valid; ``ValueError`` otherwise (for building tool lists)."""
    if not is_valid_tool_name(name):
        raise ValueError(
            f"tool name {name!r} must be 1 to {MAX_TOOL_NAME} characters of [a-zA-Z0-9_-]"
        )
    return name


def mcp_tool_name(server: str, tool: str) -> str:
    """The name the model sees for ``tool`` of MCP ``server``; ``ValueError`` if invalid."""
    return check_tool_name(f"{MCP_PREFIX}{server}__{tool}")
