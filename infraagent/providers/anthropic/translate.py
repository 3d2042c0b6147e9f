"""Translation between the provider-neutral conversation and Anthropic Messages API types.

``to_request`` builds the ``system``, ``tools`` and ``messages`` parameters and puts
``cache_control: {"type": "ephemeral"}`` on the stable prefix: the last tool definition and
the (single) system block. Anthropic's prefix order is tools, then system, then messages,
so the two breakpoints cache "tools" and "tools + system" (two of the four allowed); the
conversation itself is not marked. User turns put their ``tool_result`` blocks first, as
the API requires; an empty tool output is sent as ``(no output)``. ``to_completion`` maps
a ``Message`` back, with ``input_tokens`` counting cache reads and writes as well.

Pure translation: no client, no I/O, no retries. SDK types never leave this package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from anthropic.types import (
    CacheControlEphemeralParam,
    ContentBlockParam,
    MessageParam,
    TextBlock,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
)
from anthropic.types import Message as AnthropicMessage

from infraagent.models.conversation import (
    Completion,
    CompletionRequest,
    Message,
    TokenUsage,
    ToolCall,
    ToolResult,
)

NO_OUTPUT = "(no output)"
NO_CONTENT = "(no content)"

_STOP_REASONS = {"end_turn": "end_turn", "tool_use": "tool_use", "max_tokens": "max_tokens"}


@dataclass(frozen=True, slots=True)
class AnthropicRequest:
    """The parameters of one ``messages.create`` call."""

    system: list[TextBlockParam]
    tools: list[ToolParam]
    messages: list[MessageParam]


def to_request(request: CompletionRequest) -> AnthropicRequest:
    """Translate ``request``; the stable prefix carries the cache markers."""
    system: list[TextBlockParam] = []
    if request.system:
        system.append({"type": "text", "text": request.system, "cache_control": _ephemeral()})
    tools: list[ToolParam] = [
        {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
        for t in request.tools
    ]
    if tools:
        tools[-1]["cache_control"] = _ephemeral()
    return AnthropicRequest(system, tools, [_message(m) for m in request.messages])


def to_completion(message: AnthropicMessage) -> Completion:
    """Translate the API's answer."""
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            calls.append(_tool_call(block))
    usage = message.usage
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    stop = message.stop_reason or "end_turn"
    return Completion(
        text="".join(texts),
        tool_calls=tuple(calls),
        stop_reason=_STOP_REASONS.get(stop, stop),
        usage=TokenUsage(
            input_tokens=usage.input_tokens + cache_read + cache_write,
            output_tokens=usage.output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        ),
    )


def _ephemeral() -> CacheControlEphemeralParam:
    return {"type": "ephemeral"}


def _message(message: Message) -> MessageParam:
    blocks: list[ContentBlockParam] = []
    if message.role == "user":
        # Anthropic wants the tool results first in the user turn that answers the calls.
        blocks.extend(_tool_result(r) for r in message.tool_results)
        if message.text:
            blocks.append({"type": "text", "text": message.text})
        return {"role": "user", "content": blocks or [_text(NO_CONTENT)]}
    if message.text:
        blocks.append({"type": "text", "text": message.text})
    blocks.extend(_tool_use(c) for c in message.tool_calls)
    return {"role": "assistant", "content": blocks or [_text(NO_CONTENT)]}


def _text(text: str) -> TextBlockParam:
    return {"type": "text", "text": text}


def _tool_result(result: ToolResult) -> ToolResultBlockParam:
    block: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": result.call_id,
        "content": result.content or NO_OUTPUT,
    }
    if result.is_error:
        block["is_error"] = True
    return block


def _tool_use(call: ToolCall) -> ToolUseBlockParam:
    # A call whose arguments did not parse is replayed with empty input; the tool result
    # that answers it tells the model what was wrong.
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}


def _tool_call(block: ToolUseBlock) -> ToolCall:
    raw: Any = block.input
    if isinstance(raw, dict):
        return ToolCall(id=block.id, name=block.name, arguments=raw)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return ToolCall(id=block.id, name=block.name, arguments=decoded)
    return ToolCall(id=block.id, name=block.name, invalid_arguments=text)
