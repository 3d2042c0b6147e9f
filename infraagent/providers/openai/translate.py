"""Translation between the provider-neutral conversation and OpenAI Chat Completions types.

``to_messages`` and ``to_tools`` build the request: the system prompt is the first message,
each tool result becomes a ``tool`` message right after the assistant turn that called it
(always with non-empty ``content``: an empty output is sent as ``(no output)``, an error is
prefixed with ``Error:`` since the API has no error flag), tools are ``type: function``.
``to_completion`` maps the answer back: arguments that are not a JSON object become
``ToolCall.invalid_arguments`` (never an exception), unknown tool names pass through as
they are, ``cached_tokens`` becomes cache-read usage, and the finish reason is reported in
the same words as Anthropic's (``stop`` → ``end_turn``, ``tool_calls`` → ``tool_use``,
``length`` → ``max_tokens``; anything else as it came).

Pure translation: no client, no I/O, no retries. SDK types never leave this package.
"""

from __future__ import annotations

import json

from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAssistantMessageParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionMessageParam,
)

from infraagent.models.conversation import (
    Completion,
    CompletionRequest,
    Message,
    TokenUsage,
    ToolCall,
    ToolResult,
)

NO_OUTPUT = "(no output)"

_STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}


class EmptyAnswer(ValueError):
    """The API answered without a choice."""


def to_messages(request: CompletionRequest) -> list[ChatCompletionMessageParam]:
    """The ``messages`` parameter: system prompt first, then the turns in order."""
    messages: list[ChatCompletionMessageParam] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.extend(_message(message))
    return messages


def to_tools(request: CompletionRequest) -> list[ChatCompletionFunctionToolParam]:
    """The ``tools`` parameter (empty: send none)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": dict(tool.input_schema),
            },
        }
        for tool in request.tools
    ]


def to_completion(completion: ChatCompletion) -> Completion:
    """Translate the API's answer; raises ``EmptyAnswer`` when there is no choice."""
    if not completion.choices:
        raise EmptyAnswer("the response has no choices")
    choice = completion.choices[0]
    calls = tuple(
        _tool_call(call)
        for call in choice.message.tool_calls or ()
        if isinstance(call, ChatCompletionMessageFunctionToolCall)
    )
    usage = completion.usage
    details = usage.prompt_tokens_details if usage else None
    stop = choice.finish_reason or "stop"
    return Completion(
        text=choice.message.content or "",
        tool_calls=calls,
        stop_reason=_STOP_REASONS.get(stop, stop),
        usage=TokenUsage(
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            cache_read_tokens=(details.cached_tokens or 0) if details else 0,
            cache_write_tokens=(details.cache_write_tokens or 0) if details else 0,
        ),
    )


def _message(message: Message) -> list[ChatCompletionMessageParam]:
    if message.role == "user":
        out: list[ChatCompletionMessageParam] = [_tool_message(r) for r in message.tool_results]
        if message.text or not out:
            out.append({"role": "user", "content": message.text})
        return out
    assistant: ChatCompletionAssistantMessageParam = {"role": "assistant"}
    if message.tool_calls:
        assistant["tool_calls"] = [_tool_call_param(c) for c in message.tool_calls]
        assistant["content"] = message.text or None
    else:
        assistant["content"] = message.text
    return [assistant]


def _tool_message(result: ToolResult) -> ChatCompletionMessageParam:
    content = result.content or NO_OUTPUT
    if result.is_error and not content.lower().startswith("error"):
        content = f"Error: {content}"
    return {"role": "tool", "tool_call_id": result.call_id, "content": content}


def _tool_call_param(call: ToolCall) -> ChatCompletionMessageFunctionToolCallParam:
    # A call whose arguments did not parse is replayed as "{}": compatible servers parse the
    # history and would reject the raw text; the tool result tells the model what was wrong.
    arguments = json.dumps(dict(call.arguments), ensure_ascii=False, separators=(",", ":"))
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def _tool_call(call: ChatCompletionMessageFunctionToolCall) -> ToolCall:
    raw = call.function.arguments or ""
    try:
        decoded = json.loads(raw) if raw.strip() else {}
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return ToolCall(id=call.id, name=call.function.name, arguments=decoded)
    return ToolCall(id=call.id, name=call.function.name, invalid_arguments=raw)
