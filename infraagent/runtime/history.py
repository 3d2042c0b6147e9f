"""Conversation pruning: keep the first user message and the most recent complete tool
exchanges, so requests stop growing once a run gets long.

An exchange is an assistant turn with tool calls plus the user turn with their results;
exchanges are dropped whole, oldest first, so no tool call is ever left without its result
and no result without its call. Token sizes are estimates (see ``runtime.text``).
"""

from __future__ import annotations

from collections.abc import Sequence

from infraagent.models.conversation import Message
from infraagent.runtime.text import message_tokens


def prune(messages: Sequence[Message], limit_tokens: int) -> tuple[Message, ...]:
    """``messages`` with the oldest exchanges dropped until the rest fit ``limit_tokens``.

    The first message and the latest exchange are always kept, whatever their size.
    """
    if not messages:
        return ()
    first, rest = messages[0], list(messages[1:])
    exchanges = _exchanges(rest)
    budget = limit_tokens - message_tokens(first)
    kept: list[list[Message]] = []
    for exchange in reversed(exchanges):
        size = sum(message_tokens(m) for m in exchange)
        if kept and size > budget:
            break
        kept.append(exchange)
        budget -= size
    return (first, *(m for exchange in reversed(kept) for m in exchange))


def _exchanges(messages: list[Message]) -> list[list[Message]]:
    """Group turns after the first into [assistant, user] exchanges (a trailing assistant
    turn without results stays an exchange of its own)."""
    groups: list[list[Message]] = []
    for message in messages:
        if message.role == "assistant" or not groups:
            groups.append([message])
        else:
            groups[-1].append(message)
    return groups
