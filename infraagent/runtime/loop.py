"""The agent loop: one function over ports, from the first request to the final report.

Each iteration checks the wall clock and the token budget *before* sending (a request that
could exceed the budget is never sent), sends the pruned conversation, and answers every
tool call: judged by the guardrails first, executed through the tool port only when
allowed, answered with a plain explanation when proposed or denied. A repeated identical
call is answered from its previous result. On the final iteration the model may call no
tool, and a tool call it returns anyway is recorded as skipped, never executed. What the
model sees is redacted and framed as data; what the run records is redacted too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from infraagent.errors import ProviderError
from infraagent.guardrails.policy import Policy
from infraagent.guardrails.verdict import CooldownState, Verdict, deny
from infraagent.models.agentrun import (
    Decision,
    Escalation,
    LedgerEntry,
    Outcome,
    Proposal,
    RunPhase,
)
from infraagent.models.conversation import (
    CompletionRequest,
    Message,
    TokenUsage,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from infraagent.ports import Clock, ModelProvider, ToolExecutor
from infraagent.redaction import Redactor
from infraagent.runtime.history import prune
from infraagent.runtime.text import as_data, output_limit, request_tokens, truncate
from infraagent.tools.judge import judge

KICKOFF: Final = "Begin your run now. Use your tools, then give your final answer."
FINAL_TURN: Final = (
    "This is your final iteration: no tool can be called now. Give your final answer: "
    "the report and the findings JSON block."
)
MIN_FINAL_OUTPUT: Final = 256
BUDGET_MARGIN: Final = 1.15
BUDGET_ALLOWANCE: Final = 64


@dataclass(frozen=True)
class RunSettings:
    """Limits of one run and the model to use."""

    model: str
    max_iterations: int
    token_budget: int
    timeout: timedelta
    max_output_tokens: int = 4096
    history_tokens: int = 12_000


@dataclass(frozen=True)
class AgentInput:
    """What the loop needs to know about the agent, already assembled."""

    system: str
    tools: tuple[ToolSpec, ...]
    policy: Policy
    cooldowns: CooldownState = field(default_factory=CooldownState)


@dataclass
class RunResult:
    """Everything a run produced, redacted; the AgentRun status is built from it."""

    phase: RunPhase = RunPhase.RUNNING
    reason: str = ""
    report: str = ""
    usage: TokenUsage = field(default_factory=TokenUsage)
    iterations: int = 0
    ledger: list[LedgerEntry] = field(default_factory=list)
    proposals: list[Proposal] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    cooldowns: CooldownState = field(default_factory=CooldownState)
    started: datetime | None = None
    finished: datetime | None = None


@dataclass(frozen=True)
class RunPorts:
    """The outside world of a run: the model, the tools, redaction and the clock."""

    provider: ModelProvider
    executor: ToolExecutor
    redactor: Redactor
    clock: Clock
    on_step: Callable[[LedgerEntry], None] | None = None


@dataclass
class _Run:
    agent: AgentInput
    settings: RunSettings
    provider: ModelProvider
    executor: ToolExecutor
    redactor: Redactor
    clock: Clock
    result: RunResult
    messages: list[Message]
    on_step: Callable[[LedgerEntry], None] | None = None
    answered: dict[str, tuple[Verdict, ToolResult]] = field(default_factory=dict)


def run_agent(agent: AgentInput, settings: RunSettings, ports: RunPorts) -> RunResult:
    """Run one agent to its end; never raises for model or tool failures."""
    clock = ports.clock
    result = RunResult(started=clock.now(), cooldowns=agent.cooldowns)
    first = [Message("user", KICKOFF)]
    run = _Run(
        agent, settings, ports.provider, ports.executor, ports.redactor, clock, result, first,
        on_step=ports.on_step,
    )  # fmt: skip
    for iteration in range(1, settings.max_iterations + 1):
        if _iterate(run, final=iteration == settings.max_iterations):
            break
    result.finished = clock.now()
    return result


def _iterate(run: _Run, *, final: bool) -> bool:
    """One model round trip and its tool calls; True when the run is over."""
    if run.clock.now() - (run.result.started or run.clock.now()) >= run.settings.timeout:
        return _end(run, RunPhase.FAILED, "Timeout", "the run reached its wall-clock timeout")
    request = _fitting_request(run, final)
    if request is None:
        reason = "the next request could exceed the token budget, so it was not sent"
        return _end(run, RunPhase.FAILED, "BudgetExhausted", reason)
    try:
        completion = run.provider.complete(request)
    except ProviderError as error:
        return _end(run, RunPhase.FAILED, "ProviderError", run.redactor.redact(str(error)))
    run.result.usage += completion.usage
    run.result.iterations += 1
    run.messages.append(Message("assistant", completion.text, completion.tool_calls))
    if request.tool_choice == "none" or not completion.tool_calls:
        for call in completion.tool_calls:
            _record_skipped(run, call)
        phase = RunPhase.ESCALATED if run.result.escalations else RunPhase.SUCCEEDED
        run.result.report = run.redactor.redact(completion.text)
        return _end(run, phase, "Completed", "")
    results = tuple(_answer(run, call, completion.text) for call in completion.tool_calls)
    run.messages.append(Message("user", tool_results=results))
    return False


def _end(run: _Run, phase: RunPhase, reason: str, message: str) -> bool:
    run.result.phase, run.result.reason = phase, reason
    if message and not run.result.report:
        run.result.report = f"The run ended early: {message}."
    return True


def _fitting_request(run: _Run, final: bool) -> CompletionRequest | None:
    """The next request, if it fits the remaining budget; a forced final answer with fewer
    output tokens when only that fits; None when nothing does."""
    settings = run.settings
    remaining = (
        settings.token_budget - run.result.usage.input_tokens - run.result.usage.output_tokens
    )
    request = _request(run, final, settings.max_output_tokens)
    cost = _input_cost(request)
    if cost + request.max_output_tokens <= remaining:
        return request
    final_cost = _input_cost(_request(run, True, remaining - cost))
    if remaining - final_cost >= MIN_FINAL_OUTPUT:
        return _request(run, True, remaining - final_cost)
    return None


def _input_cost(request: CompletionRequest) -> int:
    """The estimate with a safety margin: providers count the wire format (bigger than our
    estimate by a few percent) with their own tokenizers."""
    return int(request_tokens(request) * BUDGET_MARGIN) + BUDGET_ALLOWANCE


def _request(run: _Run, final: bool, max_output: int) -> CompletionRequest:
    messages = list(prune(run.messages, run.settings.history_tokens))
    if final:
        last = messages[-1]
        text = f"{last.text}\n\n{FINAL_TURN}".strip() if last.role == "user" else FINAL_TURN
        if last.role == "user":
            messages[-1] = Message("user", text, last.tool_calls, last.tool_results)
        else:
            messages.append(Message("user", text))
    return CompletionRequest(
        model=run.settings.model,
        system=run.agent.system,
        messages=tuple(messages),
        tools=run.agent.tools,
        max_output_tokens=max(1, max_output),
        tool_choice="none" if final else "auto",
    )


def _call_key(call: ToolCall) -> str:
    return json.dumps(
        [call.name, call.arguments, call.invalid_arguments], sort_keys=True, default=str
    )


def _answer(run: _Run, call: ToolCall, rationale: str) -> ToolResult:
    """Judge one tool call, execute it if allowed, record it, and say what happened."""
    key = _call_key(call)
    if key in run.answered:
        verdict, previous = run.answered[key]
        _record(run, call, verdict, Outcome.REPEATED, previous.content, elapsed=0)
        return ToolResult(call.id, previous.content, previous.is_error)
    verdict = _verdict(run, call)
    started = time.perf_counter()
    if verdict.decision is Decision.ALLOW:
        result = _execute(run, call, verdict)
        outcome = Outcome.FAILED if result.is_error else Outcome.EXECUTED
    else:
        result = ToolResult(call.id, _refusal(run, verdict), is_error=True)
        outcome = Outcome.PROPOSED if verdict.decision is Decision.PROPOSE else Outcome.DENIED
        _record_refusal(run, call, verdict, rationale)
    elapsed = int((time.perf_counter() - started) * 1000)
    _record(run, call, verdict, outcome, result.content, elapsed=elapsed)
    run.answered[key] = (verdict, result)
    return result


def _verdict(run: _Run, call: ToolCall) -> Verdict:
    if call.invalid_arguments is not None:
        return deny("parse/invalid-input", "the tool arguments are not a JSON object")
    arguments: Mapping[str, Any] = call.arguments
    return judge(call.name, arguments, run.agent.policy, run.result.cooldowns, run.clock.now())


def _execute(run: _Run, call: ToolCall, verdict: Verdict) -> ToolResult:
    output = run.executor.execute(call.name, call.arguments, verdict.requests)
    if verdict.action:
        run.result.cooldowns = run.result.cooldowns.used(verdict.action, run.clock.now())
    text = truncate(run.redactor.redact(output.text), output_limit(call.name))
    return ToolResult(call.id, as_data(call.name, text), output.is_error)


def _refusal(run: _Run, verdict: Verdict) -> str:
    reason = run.redactor.redact(verdict.reason)
    if verdict.decision is Decision.PROPOSE:
        return f"NOT EXECUTED: proposed to a human for approval ({verdict.rule}). {reason}"
    return f"DENIED ({verdict.rule}): {reason}"


def _record(
    run: _Run, call: ToolCall, verdict: Verdict, outcome: Outcome, text: str, *, elapsed: int
) -> None:
    entry = LedgerEntry(
        seq=len(run.result.ledger) + 1,
        time=run.clock.now(),
        tool=call.name,
        requests=[run.redactor.redact(r.summary()) for r in verdict.requests],
        tier=verdict.tier,
        decision=verdict.decision,
        rule=verdict.rule,
        reason=run.redactor.redact(verdict.reason),
        action=verdict.action,
        outcome=outcome,
        result=text,
        durationMs=elapsed,
    )
    run.result.ledger.append(entry)
    if run.on_step is not None:
        run.on_step(entry)


def _record_refusal(run: _Run, call: ToolCall, verdict: Verdict, rationale: str) -> None:
    seq = len(run.result.ledger) + 1
    summaries = [run.redactor.redact(r.summary()) for r in verdict.requests]
    if verdict.decision is Decision.PROPOSE and verdict.tier is not None:
        run.result.proposals.append(
            Proposal(
                seq=seq,
                tool=call.name,
                requests=summaries,
                tier=verdict.tier,
                action=verdict.action,
                rationale=run.redactor.redact(rationale),
            )
        )
    if verdict.escalate:
        run.result.escalations.append(
            Escalation(
                seq=seq,
                time=run.clock.now(),
                rule=verdict.rule,
                message=run.redactor.redact(verdict.reason),
            )
        )


def _record_skipped(run: _Run, call: ToolCall) -> None:
    verdict = deny("runtime/final-iteration", "tool calls on the final iteration are not executed")
    _record(run, call, verdict, Outcome.SKIPPED, "", elapsed=0)
