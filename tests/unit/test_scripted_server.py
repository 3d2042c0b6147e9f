"""The scripted server's script handling: parsing, the order entries are played in, what
is refused without consuming an entry, usage and cache figures, and what is recorded.

These call ``ScriptedServer.handle`` directly (no socket); the SDK tests in
``tests/integration/test_providers.py`` cover the same server over HTTP."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infraagent.providers.scripted import (
    EXHAUSTED,
    ScriptedServer,
    ScriptError,
    ScriptFault,
    ScriptTurn,
    parse_script,
)
from infraagent.providers.scripted.server import Answer

ANTHROPIC = "/v1/messages"
OPENAI = "/v1/chat/completions"
TOOL = {"name": "kubectl", "description": "Run kubectl.", "input_schema": {"type": "object"}}
RIGHT = {"x-api-key": "sk-right", "authorization": "Bearer sk-right"}
FUNCTION = {"type": "function", "function": {"name": "kubectl", "parameters": {"type": "object"}}}


def server(script: str, **kwargs: Any) -> ScriptedServer:
    return ScriptedServer(parse_script(script), **kwargs)


def anthropic_body(*messages: dict[str, Any], marked: bool = True, **extra: Any) -> dict[str, Any]:
    system: dict[str, Any] = {"type": "text", "text": "You are the shop agent." * 20}
    tool = dict(TOOL)
    if marked:
        system["cache_control"] = tool["cache_control"] = {"type": "ephemeral"}
    return {
        "model": "m",
        "max_tokens": 256,
        "system": [system],
        "tools": [tool],
        "messages": list(messages) or [{"role": "user", "content": "check the shop"}],
        **extra,
    }


def openai_body(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are the shop agent." * 20},
            *(messages or [{"role": "user", "content": "check the shop"}]),
        ],
        "tools": [FUNCTION],
        **extra,
    }


def post(
    target: ScriptedServer, path: str, body: Any, headers: dict[str, str] | None = None
) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return target.handle("POST", path, headers or {}, raw)


# -- parsing ----------------------------------------------------------------------------------


def test_a_script_parses_turns_and_faults_in_order() -> None:
    script = parse_script(
        """
turns:
  - text: "Looking at the pods."
    tool_calls:
      - {name: kubectl, input: {command: "get pods -n shop"}}
  - fault: {status: 429, retry_after: 1}
  - fault: {delay: 3}
  - fault: {model_not_found: true}
  - text: "Final report"
"""
    )
    kinds = [type(entry).__name__ for entry in script.turns]
    assert kinds == ["ScriptTurn", "ScriptFault", "ScriptFault", "ScriptFault", "ScriptTurn"]
    first, rate, slow, missing, _ = script.turns
    assert isinstance(first, ScriptTurn) and first.tool_calls[0].input == {
        "command": "get pods -n shop"
    }
    assert isinstance(rate, ScriptFault) and rate.fault.answer_status == 429
    assert isinstance(slow, ScriptFault) and slow.fault.answer_status == 504
    assert isinstance(missing, ScriptFault) and missing.fault.answer_status == 404


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("turns: [{}]", "a turn needs text or tool_calls"),
        ("turns: [{fault: {}}]", "a fault needs status, delay or model_not_found"),
        ("turns: [{fault: {status: 200}}]", "greater than or equal to 400"),
        ("turns: [{text: hi, colour: red}]", "colour"),
        ("turns: [{tool_calls: [{input: {}}]}]", "name"),
        ("turns: [{fault: {status: 429, retry_after: -1}}]", "retry_after"),
        ("- text: hi", "a mapping with a 'turns' list"),
        ("turns: [", "not valid YAML"),
    ],
)
def test_a_bad_script_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ScriptError, match=r"^demo\.yaml: ") as caught:
        parse_script(text, "demo.yaml")
    assert problem in str(caught.value)


# -- the order of play ------------------------------------------------------------------------


def test_a_fault_takes_one_request_and_the_retry_gets_the_next_entry() -> None:
    target = server(
        "turns: [{fault: {status: 429, retry_after: 2}}, {fault: {status: 500}}, {text: hi}]"
    )
    rate, error, reply = (post(target, ANTHROPIC, anthropic_body()) for _ in range(3))
    assert (rate.status, rate.headers, rate.entry) == (429, {"retry-after": "2"}, 0)
    assert rate.body["error"]["type"] == "rate_limit_error"
    assert (error.status, error.entry) == (500, 1)
    assert error.body == {
        "type": "error",
        "error": {"type": "api_error", "message": "internal server error (scripted)"},
    }
    assert (reply.status, reply.entry) == (200, 2)
    assert reply.body["content"] == [{"type": "text", "text": "hi"}]
    assert target.remaining == 0


def test_a_delay_fault_asks_the_handler_to_sleep_then_answers_504() -> None:
    target = server("turns: [{fault: {delay: 1.5}}, {text: hi}]")
    slow = post(target, OPENAI, openai_body())
    assert (slow.status, slow.delay) == (504, 1.5)
    assert post(target, OPENAI, openai_body()).status == 200


def test_when_the_script_runs_out_the_server_says_so() -> None:
    target = server("turns: [{text: only}]")
    post(target, ANTHROPIC, anthropic_body())
    extra = post(target, ANTHROPIC, anthropic_body())
    assert extra.status == 200 and extra.entry is None
    assert extra.body["content"] == [{"type": "text", "text": EXHAUSTED}]
    assert extra.body["stop_reason"] == "end_turn"
    late = post(target, OPENAI, openai_body())
    assert late.body["choices"][0]["message"]["content"] == EXHAUSTED


@pytest.mark.parametrize(
    ("path", "body", "headers", "status"),
    [
        ("/chat/completions", openai_body(), {}, 404),
        ("/v1/v1/chat/completions", openai_body(), {}, 404),
        ("/v1/v1/messages", anthropic_body(), {}, 404),
        (ANTHROPIC, b"{not json", RIGHT, 400),
        (ANTHROPIC, {**anthropic_body(), "max_tokens": None}, RIGHT, 400),
        (OPENAI, openai_body(), {"authorization": "Bearer wrong"}, 401),
        (ANTHROPIC, anthropic_body(), {}, 401),
    ],
)
def test_refusals_consume_no_entry(
    path: str, body: Any, headers: dict[str, str], status: int
) -> None:
    target = server("turns: [{text: kept}]", api_key="sk-right")
    assert post(target, path, body, headers).status == status
    assert target.remaining == 1
    good = post(
        target,
        OPENAI if "chat" in path else ANTHROPIC,
        openai_body() if "chat" in path else anthropic_body(),
        RIGHT,
    )
    assert (good.status, good.entry) == (200, 0)


def test_concurrent_requests_each_get_their_own_entry() -> None:
    count = 40
    target = server("turns:\n" + "".join(f"  - text: reply {n}\n" for n in range(count)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(target, OPENAI, openai_body()), range(count)))
    texts = sorted(a.body["choices"][0]["message"]["content"] for a in answers)
    assert texts == sorted(f"reply {n}" for n in range(count))
    assert sorted(r.seq for r in target.requests) == list(range(count))


# -- what the real APIs would refuse ----------------------------------------------------------


def test_anthropic_refuses_broken_tool_pairing() -> None:
    target = server("turns: [{text: a}]")
    call = {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "kubectl", "input": {}}],
    }
    unanswered = post(
        target,
        ANTHROPIC,
        anthropic_body(
            {"role": "user", "content": "hi"}, call, {"role": "user", "content": "next"}
        ),
    )
    assert unanswered.status == 400
    assert "toolu_1" in unanswered.body["error"]["message"]
    stray = post(
        target,
        ANTHROPIC,
        anthropic_body(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9"}]}
        ),
    )
    assert stray.status == 400 and "toolu_9" in stray.body["error"]["message"]
    dotted = post(target, ANTHROPIC, {**anthropic_body(), "tools": [{**TOOL, "name": "k.get"}]})
    assert dotted.status == 400
    assert target.remaining == 1


def test_openai_refuses_a_tool_message_without_content_or_call() -> None:
    target = server("turns: [{text: a}]")
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "kubectl", "arguments": "{}"}}
        ],
    }
    missing = post(
        target,
        OPENAI,
        openai_body(
            {"role": "user", "content": "hi"}, call, {"role": "tool", "tool_call_id": "call_1"}
        ),
    )
    assert missing.status == 400 and "content" in missing.body["error"]["message"]
    unanswered = post(target, OPENAI, openai_body({"role": "user", "content": "hi"}, call))
    assert unanswered.status == 400 and "call_1" in unanswered.body["error"]["message"]
    answered = post(
        target,
        OPENAI,
        openai_body(
            {"role": "user", "content": "hi"},
            call,
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        ),
    )
    assert answered.status == 200


# -- replies, usage and the prompt cache ------------------------------------------------------


def test_anthropic_tool_calls_look_like_the_real_thing() -> None:
    target = server(
        "turns: [{text: looking, tool_calls: [{name: kubectl, input: {command: get pods}}]}]"
    )
    body = post(target, ANTHROPIC, anthropic_body()).body
    assert body["id"].startswith("msg_01") and body["type"] == "message"
    assert body["stop_reason"] == "tool_use"
    text, call = body["content"]
    assert text == {"type": "text", "text": "looking"}
    assert call["id"].startswith("toolu_01") and len(call["id"]) == len("toolu_01") + 22
    assert (call["name"], call["input"]) == ("kubectl", {"command": "get pods"})


def test_openai_tool_calls_look_like_the_real_thing() -> None:
    target = server("turns: [{tool_calls: [{name: kubectl, input: {command: get pods}}]}]")
    body = post(target, OPENAI, openai_body()).body
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert json.loads(call["function"]["arguments"]) == {"command": "get pods"}


@pytest.mark.parametrize("path", [ANTHROPIC, OPENAI])
def test_malformed_arguments_are_not_json(path: str) -> None:
    target = server(
        "turns: [{malformed_tool_arguments: true, tool_calls: [{name: kubectl, input: {a: 1}}]},"
        " {tool_calls: [{name: kubectl, raw_arguments: '{\"a\": '}]}]"
    )
    body = anthropic_body() if path == ANTHROPIC else openai_body()
    for _ in range(2):
        answer = post(target, path, body).body
        if path == ANTHROPIC:
            raw = answer["content"][0]["input"]
        else:
            raw = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        assert isinstance(raw, str)
        with pytest.raises(ValueError):
            json.loads(raw)


def test_anthropic_cache_is_written_once_then_read() -> None:
    target = server("turns: [{text: a}, {text: b}, {text: c}, {text: d}]")
    first = post(target, ANTHROPIC, anthropic_body()).body["usage"]
    second = post(
        target,
        ANTHROPIC,
        anthropic_body(
            {"role": "user", "content": "check the shop"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "and the db"},
        ),
    ).body["usage"]
    assert first["cache_read_input_tokens"] == 0 and first["cache_creation_input_tokens"] > 100
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] > first["input_tokens"]  # only the uncached part
    changed = anthropic_body()
    changed["system"][0]["text"] = "Another agent." * 20
    third = post(target, ANTHROPIC, changed).body["usage"]
    # The tools (before the system prompt) are still cached; the new system prompt is written.
    assert 0 < third["cache_read_input_tokens"] < first["cache_creation_input_tokens"]
    assert third["cache_creation_input_tokens"] > 0
    unmarked = post(target, ANTHROPIC, anthropic_body(marked=False)).body["usage"]
    assert unmarked["cache_read_input_tokens"] == unmarked["cache_creation_input_tokens"] == 0


def test_anthropic_input_tokens_follow_the_request_size() -> None:
    target = server("turns: [{text: a}, {text: b}]")
    small = post(target, ANTHROPIC, anthropic_body(marked=False)).body["usage"]
    big = post(
        target, ANTHROPIC, anthropic_body({"role": "user", "content": "x" * 4000}, marked=False)
    ).body["usage"]
    assert 900 < big["input_tokens"] - small["input_tokens"] < 1100
    assert small["output_tokens"] > 0


def test_openai_reports_cached_tokens_for_a_repeated_prefix() -> None:
    target = server("turns: [{text: a}, {text: b}]")
    first = post(target, OPENAI, openai_body()).body["usage"]
    second = post(
        target,
        OPENAI,
        openai_body(
            {"role": "user", "content": "check the shop"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "more"},
        ),
    ).body["usage"]
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["prompt_tokens_details"]["cached_tokens"] == first["prompt_tokens"]
    assert second["total_tokens"] == second["prompt_tokens"] + second["completion_tokens"]


def test_output_beyond_the_cap_is_cut_with_the_length_reason() -> None:
    target = server("turns: [{text: '" + "word " * 200 + "'}, {text: '" + "word " * 200 + "'}]")
    anthropic = post(target, ANTHROPIC, {**anthropic_body(), "max_tokens": 10}).body
    assert anthropic["stop_reason"] == "max_tokens" and anthropic["usage"]["output_tokens"] == 10
    openai = post(target, OPENAI, openai_body(max_completion_tokens=10)).body
    assert openai["choices"][0]["finish_reason"] == "length"
    assert openai["usage"]["completion_tokens"] == 10


@pytest.mark.parametrize("path", [ANTHROPIC, OPENAI])
def test_model_not_found_speaks_each_api(path: str) -> None:
    target = server("turns: [{fault: {model_not_found: true}}]")
    answer = post(target, path, anthropic_body() if path == ANTHROPIC else openai_body())
    assert answer.status == 404
    if path == ANTHROPIC:
        assert answer.body["error"] == {"type": "not_found_error", "message": "model: m"}
    else:
        assert answer.body["error"]["code"] == "model_not_found"


# -- the record -------------------------------------------------------------------------------


def test_credentials_are_redacted_in_the_record_but_their_presence_is_kept() -> None:
    target = server("turns: [{text: a}, {text: b}]", api_key="sk-secret")
    post(target, ANTHROPIC, anthropic_body(), {"x-api-key": "sk-secret", "x-team": "shop"})
    post(target, OPENAI, openai_body(), {"authorization": "Bearer sk-nope"})
    first, second = target.requests
    assert first.headers == {"x-api-key": "[REDACTED]", "x-team": "shop"}
    assert (first.credentials, first.credential_ok, first.api) == (
        ("x-api-key",),
        True,
        "anthropic",
    )
    assert (second.credentials, second.credential_ok, second.status) == (
        ("authorization",),
        False,
        401,
    )
    assert "sk-secret" not in repr(target.requests) and "sk-nope" not in repr(target.requests)
    assert first.body["tools"][0]["name"] == "kubectl"
    assert (first.entry, second.entry) == (0, None)


def test_the_log_gets_one_line_per_request() -> None:
    lines: list[str] = []
    target = server("turns: [{fault: {status: 500}}]", log=lines.append)
    post(target, OPENAI, openai_body())
    target.handle("GET", "/v1/models", {}, b"")
    assert lines == ["POST /v1/chat/completions -> 500 (script entry 0)", "GET /v1/models -> 404"]
