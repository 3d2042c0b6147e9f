"""Judge a tool call: parse it into canonical requests, then ask the guardrail engine.

This is the one entry point the agent loop and ``infraagent guardrails check`` use. A
call that cannot be parsed is denied with the parser's rule; a tool input of the wrong
shape is denied as ``parse/invalid-input``. Executing allowed calls is not done here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from infraagent.guardrails.engine import evaluate
from infraagent.guardrails.policy import Policy
from infraagent.guardrails.verdict import CooldownState, Verdict, deny
from infraagent.models.requests import CanonicalRequest, ParseError
from infraagent.tools.http import parse_http
from infraagent.tools.kubectl import parse_kubectl
from infraagent.tools.mcp import parse_mcp
from infraagent.tools.names import HTTP_TOOL, KUBECTL_TOOL, MCP_PREFIX

_KUBECTL_KEYS = frozenset({"command", "manifest"})


def parse_call(tool: str, tool_input: Mapping[str, Any]) -> list[CanonicalRequest]:
    """The canonical requests of one tool call; raises ``ParseError`` when it is refused."""
    if not isinstance(tool_input, Mapping):
        raise ParseError("parse/invalid-input", "the tool input must be a JSON object")
    if tool == KUBECTL_TOOL:
        return list(_parse_kubectl(tool_input))
    if tool == HTTP_TOOL:
        return [parse_http(tool_input)]
    if tool.startswith(MCP_PREFIX):
        return [parse_mcp(tool, tool_input)]
    raise ParseError("parse/unknown-tool", f"there is no tool named {tool!r}")


def _parse_kubectl(tool_input: Mapping[str, Any]) -> list[CanonicalRequest]:
    command, manifest = tool_input.get("command"), tool_input.get("manifest")
    unknown = sorted(set(tool_input) - _KUBECTL_KEYS)
    if unknown:
        raise ParseError("parse/invalid-input", f"kubectl takes no input field {unknown[0]!r}")
    if not isinstance(command, str) or not (manifest is None or isinstance(manifest, str)):
        raise ParseError(
            "parse/invalid-input", "kubectl needs 'command' (a string) and optionally 'manifest'"
        )
    return list(parse_kubectl(command, manifest))


def judge(
    tool: str,
    tool_input: Mapping[str, Any],
    policy: Policy,
    state: CooldownState,
    now: datetime,
) -> Verdict:
    """Parse and judge one tool call. Never raises: anything unexpected is a deny."""
    try:
        requests = parse_call(tool, tool_input)
    except ParseError as error:
        return deny(error.rule, error.reason)
    except Exception as error:
        return deny("parse/invalid-input", f"the call could not be parsed ({error!r})")
    return evaluate(requests, policy, state, now)
