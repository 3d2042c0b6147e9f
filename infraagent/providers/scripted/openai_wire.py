"""The OpenAI Chat Completions wire format of the scripted server
(``POST /v1/chat/completions``).

``check`` refuses what the real API refuses and a test would want to notice: a missing
model, tool names outside ``[a-zA-Z0-9_-]{1,64}``, a ``tool`` message without ``content``,
and broken tool pairing (an assistant ``tool_calls`` entry not answered by the ``tool``
messages that follow it, or a ``tool`` message answering no pending call). ``reply`` builds
a ``chat.completion`` with realistic ids, ``finish_reason`` and usage: ``prompt_tokens``
from the request size, and ``prompt_tokens_details.cached_tokens`` for the longest prefix
(tools plus whole messages) that an earlier request already sent — OpenAI caches
automatically, without markers. ``error`` builds the API's error body.

No I/O: the server owns the socket.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from infraagent.providers.scripted.common import Ids, PrefixCache, dump, size, tokens
from infraagent.providers.scripted.script import Fault, ScriptTurn

PATH = "/v1/chat/completions"
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLES = ("system", "developer", "user", "assistant", "tool")
_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def credential_ok(headers: dict[str, str], api_key: str) -> bool:
    """Whether the request carries ``Authorization: Bearer api_key``."""
    return headers.get("authorization") == f"Bearer {api_key}"


def check(body: Any) -> str | None:
    """Why the API would refuse ``body`` with a 400, or None."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    if body.get("stream"):
        return "stream: the scripted server does not stream"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "[] is too short - 'messages'"
    return _check_tools(body.get("tools", [])) or _check_messages(messages)


def reply(body: dict[str, Any], turn: ScriptTurn, ids: Ids, cache: PrefixCache) -> dict[str, Any]:
    """The ``chat.completion`` the scripted model answers with."""
    calls = _tool_calls(turn, ids)
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    output = tokens(size(dump(message)))
    finish = "tool_calls" if calls else "stop"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and output > limit:
        message = {"role": "assistant", "content": turn.text[: limit * 4], "refusal": None}
        output, finish = limit, "length"
    return {
        "id": ids.make("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": _usage(body, cache, output),
    }


def error(status: int, message: str, fault: Fault | None, body: Any) -> dict[str, Any]:
    """The API's error body for ``status``."""
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
    kind, code = _ERRORS.get(status, fallback)
    if fault is not None and fault.model_not_found:
        model = body.get("model") if isinstance(body, dict) else None
        kind, code = "invalid_request_error", "model_not_found"
        message = fault.message or (
            f"The model `{model}` does not exist or you do not have access to it."
        )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _tool_calls(turn: ScriptTurn, ids: Ids) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or ids.make("call_", 24),
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": _arguments(
                    call.input, call.raw_arguments, turn.malformed_tool_arguments
                ),
            },
        }
        for call in turn.tool_calls
    ]


def _usage(body: dict[str, Any], cache: PrefixCache, output: int) -> dict[str, Any]:
    """Prompt size, and the longest prefix (tools + whole messages) an earlier request sent."""
    pieces = [dump(t) for t in body.get("tools") or []] + [dump(m) for m in body["messages"]]
    first_message = len(pieces) - len(body["messages"])
    use = cache.use(body["model"], pieces, range(first_message, len(pieces)))
    prompt = tokens(use.total)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": min(tokens(use.read), prompt)},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _arguments(value: dict[str, Any], raw: str | None, malformed: bool) -> str:
    if raw is not None:
        return raw
    text = json.dumps(value, ensure_ascii=False)
    return text[:-1] if malformed else text


def _check_tools(tools: Any) -> str | None:
    if not isinstance(tools, list):
        return "tools: must be a list"
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict):
            return f"tools[{index}]: only type 'function' with a 'function' object is supported"
        name = function.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return (
                f"Invalid 'tools[{index}].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
            )
    return None


def _check_messages(messages: list[Any]) -> str | None:
    pending: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            return f"Invalid value for 'messages[{index}].role'"
        if role == "tool":
            problem = _check_tool_message(index, message, pending)
            if problem:
                return problem
            pending.discard(message["tool_call_id"])
            continue
        if pending:
            return _unanswered(pending)
        called = _called_ids(message) if role == "assistant" else set()
        if isinstance(called, str):
            return f"messages[{index}].tool_calls: {called}"
        pending = called
    return _unanswered(pending) if pending else None


def _check_tool_message(index: int, message: dict[str, Any], pending: set[str]) -> str | None:
    if message.get("content") is None:
        return f"Missing required parameter: 'messages[{index}].content'."
    if message.get("tool_call_id") not in pending:
        return (
            f"Invalid parameter: messages[{index}]: messages with role 'tool' must be a "
            "response to a preceding message with 'tool_calls'."
        )
    return None


def _called_ids(message: dict[str, Any]) -> set[str] | str:
    """The ids an assistant message calls, or why its tool calls are malformed."""
    ids: set[str] = set()
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
            return "each tool call needs a function with string arguments"
        if not isinstance(call.get("id"), str):
            return "each tool call needs an id"
        ids.add(call["id"])
    return ids


def _unanswered(ids: set[str]) -> str:
    return (
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        f"to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        f"{', '.join(sorted(ids))}"
    )
