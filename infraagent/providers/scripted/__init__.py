"""A scripted language model for tests and demos: a local server speaking both wire formats.

``ScriptedServer`` answers ``POST /v1/messages`` (Anthropic Messages) and
``POST /v1/chat/completions`` (OpenAI Chat Completions) from a YAML ``Script`` of turns and
faults, one entry per request, with realistic ids, stop reasons and usage (cache reads
included), and records every request so tests can assert what was sent. The real SDKs
reach it through their base URL: ``server.url`` for Anthropic, ``server.openai_base_url``
for OpenAI. ``python -m infraagent.providers.scripted SCRIPT [--port N]`` serves a script
for a demo.

It imports no SDK and does not stream.
"""

from __future__ import annotations

from infraagent.providers.scripted.script import (
    Fault,
    Script,
    ScriptError,
    ScriptFault,
    ScriptToolCall,
    ScriptTurn,
    load_script,
    parse_script,
)
from infraagent.providers.scripted.server import EXHAUSTED, RecordedRequest, ScriptedServer

__all__ = [
    "EXHAUSTED",
    "Fault",
    "RecordedRequest",
    "Script",
    "ScriptError",
    "ScriptFault",
    "ScriptToolCall",
    "ScriptTurn",
    "ScriptedServer",
    "load_script",
    "parse_script",
]
