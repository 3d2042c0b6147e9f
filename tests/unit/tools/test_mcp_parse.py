"""MCP tool calls and tool names."""

from __future__ import annotations

from typing import Any

import pytest

from infraagent.models.requests import McpCall, ParseError
from infraagent.tools.mcp import parse_mcp
from infraagent.tools.names import (
    HTTP_TOOL,
    KUBECTL_TOOL,
    check_tool_name,
    is_valid_tool_name,
    mcp_tool_name,
)


@pytest.mark.parametrize(
    ("name", "server", "tool"),
    [
        ("mcp__grafana__search_dashboards", "grafana", "search_dashboards"),
        ("mcp__prom-01__query", "prom-01", "query"),
        ("mcp__s__get__nested", "s", "get__nested"),
        ("mcp__s___private", "s", "_private"),
        ("mcp__github__List-Issues", "github", "List-Issues"),
    ],
)
def test_mcp_names_split_on_the_first_separator(name: str, server: str, tool: str) -> None:
    call = parse_mcp(name, {"query": "up", "limit": 5})
    assert call == McpCall(server=server, tool=tool, arguments={"query": "up", "limit": 5})


@pytest.mark.parametrize(
    "name",
    [
        "mcp__", "mcp__grafana", "mcp__grafana__", "mcp____tool", "mcp__Grafana__q",
        "mcp__graf_ana__q", "mcp__-x__q", "mcp__grafana__q.x", "mcp__grafana__q x",
        "mcp_grafana__q", "kubectl", "http_request", "mcp__g__" + "x" * 60,
    ],
)  # fmt: skip
def test_other_names_are_unknown_tools(name: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_mcp(name, {})
    assert caught.value.rule == "parse/unknown-tool"


@pytest.mark.parametrize("tool_input", [None, [], "x", {1: "a"}])
def test_mcp_input_must_be_an_object(tool_input: Any) -> None:
    with pytest.raises(ParseError) as caught:
        parse_mcp("mcp__grafana__q", tool_input)
    assert caught.value.rule == "parse/invalid-input"


def test_mcp_arguments_are_a_copy() -> None:
    arguments = {"a": 1}
    call = parse_mcp("mcp__grafana__q", arguments)
    arguments["a"] = 2
    assert call.arguments == {"a": 1}


def test_tool_names() -> None:
    assert is_valid_tool_name(KUBECTL_TOOL) and is_valid_tool_name(HTTP_TOOL)
    assert mcp_tool_name("grafana", "search") == "mcp__grafana__search"
    for bad in ("", "a.b", "a b", "kubectl/x", "ü", "x" * 65):
        assert not is_valid_tool_name(bad)
        with pytest.raises(ValueError, match="tool name"):
            check_tool_name(bad)
    assert is_valid_tool_name("x" * 64)
