"""The tool definitions offered to the model: ``kubectl``, ``http_request`` and the MCP
tools the agent's Action Sheets declare by exact name.

Definitions are built in a fixed order from sorted inputs so the prompt prefix is
byte-identical between runs (prompt caching depends on it). Executing tools is not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from infraagent.models.conversation import ToolSpec
from infraagent.models.skill import ActionSheet
from infraagent.tools.names import HTTP_TOOL, KUBECTL_TOOL, mcp_tool_name

KUBECTL_SPEC: Final = ToolSpec(
    name=KUBECTL_TOOL,
    description=(
        "Run a kubectl command against the cluster, as this agent's own identity. Give the "
        "arguments without the leading 'kubectl' (for example 'get pods -n shop'). No shell: "
        "pipes, redirections and ';' are refused. For apply/create/replace/delete -f, pass "
        "'-f -' and put the YAML in 'manifest'. exec, cp, port-forward, proxy, run, debug, "
        "edit and identity flags (--as, --token, --server, --context, --kubeconfig) are "
        "always refused."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "kubectl arguments"},
            "manifest": {"type": "string", "description": "YAML for -f -, if any"},
        },
        "required": ["command"],
        "additionalProperties": False,
    },
)

HTTP_SPEC: Final = ToolSpec(
    name=HTTP_TOOL,
    description=(
        "Send one HTTP request to an endpoint of the environment. Credentials are added by "
        "the runtime for the endpoints they are bound to; never put secrets in URLs or "
        "headers."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]},
            "url": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {"type": "string"},
        },
        "required": ["method", "url"],
        "additionalProperties": False,
    },
)


def _exact(name: str) -> bool:
    return not any(c in name for c in "*?[")


def mcp_specs(sheets: Iterable[ActionSheet]) -> list[ToolSpec]:
    """One definition per MCP tool an Action Sheet names exactly, sorted by name."""
    names = {
        mcp_tool_name(action.mcp.server, tool)
        for sheet in sheets
        for action in sheet.actions
        if action.mcp is not None
        for tool in action.mcp.tools
        if _exact(tool)
    }
    return [
        ToolSpec(
            name=name,
            description=f"Call the MCP tool {name.split('__', 2)[2]!r} of server "
            f"{name.split('__', 2)[1]!r}.",
            input_schema={"type": "object", "additionalProperties": True},
        )
        for name in sorted(names)
    ]


def tool_specs(sheets: Iterable[ActionSheet]) -> tuple[ToolSpec, ...]:
    """Every tool the agent is offered, in a stable order."""
    return (KUBECTL_SPEC, HTTP_SPEC, *mcp_specs(sheets))
