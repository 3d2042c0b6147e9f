"""Tool parsers: turn a tool call the model made into canonical requests.

Each parser takes a tool's input exactly as the model wrote it and returns the canonical
requests (``infraagent.models.requests``) the call would make, or raises ``ParseError``
with a stable rule id; it never returns an empty list. Parsers fail closed: anything they
do not understand is refused, never guessed. They do no I/O, run nothing and resolve
nothing (the REST mapper and the guardrail engine come after them), so they are cheap
enough for the hot path of every tool call.
"""
