"""Sizing text for the model: token estimates, head-and-tail truncation, data framing.

Token counts are estimated (about four bytes of UTF-8 per token, rounded up), the same
way for every provider, so budgets are checked before a request is sent. Tool output is
framed as untrusted data before the model sees it. Nothing here knows about runs.
"""

from __future__ import annotations

import json
from typing import Any, Final

from infraagent.models.conversation import CompletionRequest, Message

BYTES_PER_TOKEN: Final = 4
MARKER: Final = "\n…[{omitted} characters omitted]…\n"
OUTPUT_LIMITS: Final = {"kubectl": 6000, "http_request": 4000}
DEFAULT_OUTPUT_LIMIT: Final = 4000


def estimate_tokens(text: str) -> int:
    """Tokens ``text`` is likely to cost (an over-estimate for English and YAML)."""
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "text": message.text,
        "calls": [
            [c.id, c.name, dict(c.arguments), c.invalid_arguments] for c in message.tool_calls
        ],
        "results": [[r.call_id, r.content, r.is_error] for r in message.tool_results],
    }


def message_tokens(message: Message) -> int:
    return estimate_tokens(json.dumps(_message_json(message), ensure_ascii=False))


def request_tokens(request: CompletionRequest) -> int:
    """Estimated input tokens of a whole request: system, tools and messages."""
    tools = json.dumps(
        [[t.name, t.description, t.input_schema] for t in request.tools], ensure_ascii=False
    )
    fixed = estimate_tokens(request.system) + estimate_tokens(tools)
    return fixed + sum(message_tokens(m) for m in request.messages)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters: its head and tail around a marker."""
    if len(text) <= limit:
        return text
    keep = max(limit - 64, 16)
    head = keep * 2 // 3
    tail = keep - head
    marker = MARKER.format(omitted=len(text) - head - tail)
    return text[:head] + marker + text[len(text) - tail :]


def output_limit(tool: str) -> int:
    """How many characters of a tool's output the model sees."""
    return OUTPUT_LIMITS.get(tool, DEFAULT_OUTPUT_LIMIT)


def as_data(tool: str, text: str) -> str:
    """Frame tool output as untrusted data (the system prompt says never to obey it)."""
    safe = text.replace("</tool-output>", "</tool-output\u200b>")
    return f'<tool-output tool="{tool}">\n{safe}\n</tool-output>'
