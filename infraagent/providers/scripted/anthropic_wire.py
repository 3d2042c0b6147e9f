"""The Anthropic Messages wire format of the scripted server (``POST /v1/messages``).

``check`` refuses what the real API refuses and a test would want to notice: a missing
model or ``max_tokens``, empty text blocks, tool names outside ``[a-zA-Z0-9_-]{1,128}``,
more than four cache breakpoints, and broken tool pairing (a ``tool_use`` not answered by a
``tool_result`` in the next user turn, or a ``tool_result`` for an id the previous
assistant turn did not call). ``reply`` builds a ``message`` with realistic ids, stop
reason and usage: input tokens from the request size, and when the request marks cache
breakpoints (``cache_control`` on tools, system or message blocks, or the top-level
``cache_control``) the prefix up to the last one is reported as
``cache_creation_input_tokens`` the first time and ``cache_read_input_tokens`` once an
identical prefix was seen. ``error`` builds the API's error body.

No I/O: the server owns the socket.
"""

from __future__ import annotations

import re
from typing import Any

from infraagent.providers.scripted.common import CacheUse, Ids, PrefixCache, dump, size, tokens
from infraagent.providers.scripted.script import Fault, ScriptTurn

PATH = "/v1/messages"
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def credential_ok(headers: dict[str, str], api_key: str) -> bool:
    """Whether the request carries ``api_key`` (``x-api-key``, or a bearer token)."""
    return headers.get("x-api-key") == api_key or headers.get("authorization") == (
        f"Bearer {api_key}"
    )


def check(body: Any) -> str | None:
    """Why the API would refuse ``body`` with a 400, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required (a positive integer)"
    if body.get("stream"):
        return "stream: the scripted server does not stream"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    return _check_tools(body.get("tools", [])) or _check_messages(messages) or _check_marks(body)


def reply(body: dict[str, Any], turn: ScriptTurn, ids: Ids, cache: PrefixCache) -> dict[str, Any]:
    """The ``message`` the scripted model answers with."""
    content: list[dict[str, Any]] = []
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    for call in turn.tool_calls:
        arguments: Any = call.input
        if call.raw_arguments is not None:
            arguments = call.raw_arguments
        elif turn.malformed_tool_arguments:
            arguments = dump(call.input)[:-1]
        tool_id = call.id or ids.make("toolu_01", 22)
        content.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": arguments})
    output = tokens(size(dump(content)))
    stop = "tool_use" if turn.tool_calls else "end_turn"
    if output > body["max_tokens"]:
        cut = turn.text[: body["max_tokens"] * 4]
        content = [{"type": "text", "text": cut}] if cut else []
        output, stop = body["max_tokens"], "max_tokens"
    use = cache.use(body["model"], *_pieces(body))
    return {
        "id": ids.make("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(use, output),
    }


def error(status: int, message: str, fault: Fault | None, body: Any) -> dict[str, Any]:
    """The API's error body for ``status``."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    if fault is not None and fault.model_not_found:
        model = body.get("model") if isinstance(body, dict) else None
        kind, message = "not_found_error", fault.message or f"model: {model}"
    return {"type": "error", "error": {"type": kind, "message": message}}


def _usage(use: CacheUse, output: int) -> dict[str, int]:
    read, written = tokens(use.read), tokens(use.read + use.written) - tokens(use.read)
    return {
        "input_tokens": max(tokens(use.total) - read - written, 0),
        "output_tokens": output,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
    }


def _pieces(body: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The prompt in cache order (tools, system, messages) and the breakpoint indexes."""
    blocks: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    blocks.extend(system if isinstance(system, list) else [system] if system else [])
    for message in body["messages"]:
        content = message.get("content")
        blocks.append({"role": message.get("role")})
        blocks.extend(content if isinstance(content, list) else [content])
    pieces, ends = [], []
    for index, block in enumerate(blocks):
        if isinstance(block, dict) and "cache_control" in block:
            ends.append(index)
            pieces.append(dump({k: v for k, v in block.items() if k != "cache_control"}))
        else:
            pieces.append(dump(block))
    if body.get("cache_control"):
        ends.append(len(pieces) - 1)
    return pieces, ends


def _check_tools(tools: Any) -> str | None:
    if not isinstance(tools, list):
        return "tools: must be a list"
    for index, tool in enumerate(tools):
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return f"tools.{index}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
        if not isinstance(tool.get("input_schema"), dict):
            return f"tools.{index}.input_schema: Field required"
    return None


def _check_marks(body: dict[str, Any]) -> str | None:
    _, ends = _pieces(body)
    if len(ends) > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {len(ends)}."
    return None


def _check_messages(messages: list[Any]) -> str | None:
    first = messages[0]
    if not isinstance(first, dict) or first.get("role") != "user":
        return "messages.0.role: the first message must use the user role"
    pending: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: must be 'user' or 'assistant'"
        blocks = message.get("content")
        blocks = [{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{index}.content: must be a non-empty string or list"
        problem = _check_blocks(index, message["role"], blocks, pending)
        if problem:
            return problem
        pending = {b["id"] for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"}
    if pending:
        return _unanswered(len(messages) - 1, pending)
    return None


def _check_blocks(index: int, role: str, blocks: list[Any], pending: set[str]) -> str | None:
    answered = set()
    for number, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and not block.get("text"):
            return f"messages.{index}.content.{number}: text content blocks must be non-empty"
        if kind == "tool_result":
            if role != "user" or block.get("tool_use_id") not in pending:
                return (
                    f"messages.{index}.content.{number}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {block.get('tool_use_id')}. Each `tool_result` "
                    "block must have a corresponding `tool_use` block in the previous message."
                )
            answered.add(block["tool_use_id"])
        if kind == "tool_use" and (role != "assistant" or not isinstance(block.get("id"), str)):
            return f"messages.{index}.content.{number}: tool_use blocks belong to the assistant"
    if pending - answered:
        return _unanswered(index - 1, pending - answered)
    return None


def _unanswered(index: int, ids: set[str]) -> str:
    return (
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {', '.join(sorted(ids))}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )
