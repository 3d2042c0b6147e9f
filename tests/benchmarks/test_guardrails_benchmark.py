"""How fast the guardrail engine judges tool calls: a mixed corpus in one process.

Both corpora of ``tests/guardrails/corpus`` plus generated variants of them (harmless
flags, other namespaces, other URLs, other MCP arguments), at least 5,000 calls, each
parsed and judged by ``judge`` against the policy of its fixture. Prints decisions per
second and p50/p99 latency per decision; it is not a pass/fail timer (the issue's target
is p99 under 1 ms and at least 20,000 decisions per second). It only asserts that every
call got a verdict.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any, Final

import pytest

from infraagent.guardrails.policy import Policy
from infraagent.guardrails.verdict import CooldownState, Verdict
from infraagent.models.agentrun import Decision
from infraagent.tools.judge import judge
from tests.guardrails.support import NOW, corpus, policy

CALLS: Final = 6_000
WARM_UP: Final = 500
KUBECTL_EXTRAS: Final = ("", " -o yaml", " -v=2", " --request-timeout=5s", " -o name")
NAMESPACES: Final = ("shop", "staging", "payments", "default")

Call = tuple[Policy, str, Any]


def _variant(rng: random.Random, tool: str, tool_input: Any, n: int) -> Any:
    if not isinstance(tool_input, dict):
        return tool_input
    if tool == "kubectl" and isinstance(tool_input.get("command"), str):
        command = tool_input["command"]
        if " -n shop" in command and rng.random() < 0.3:
            command = command.replace(" -n shop", f" -n {rng.choice(NAMESPACES)}")
        if " -- " not in command and not command.endswith(" --"):
            command += rng.choice(KUBECTL_EXTRAS)
        return {**tool_input, "command": command}
    if tool == "http_request" and isinstance(tool_input.get("url"), str):
        url = tool_input["url"]
        joiner = "&" if "?" in url else "?"
        return {**tool_input, "url": f"{url}{joiner}n={n}" if url.startswith("http") else url}
    return {**tool_input, "n": n} if tool.startswith("mcp__") else tool_input


def _mixed_calls() -> list[Call]:
    base = [
        (policy(name), case.tool, case.input)
        for name in ("redteam", "benign")
        for case in corpus(name)
    ]
    rng = random.Random(20250301)
    calls: list[Call] = list(base)
    while len(calls) < CALLS:
        rules, tool, tool_input = rng.choice(base)
        calls.append((rules, tool, _variant(rng, tool, tool_input, len(calls))))
    rng.shuffle(calls)
    return calls


def _percentile(sorted_ns: list[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, round(fraction * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1_000


def _kind(tool: str, tool_input: Any) -> str:
    if tool == "kubectl":
        manifest = isinstance(tool_input, dict) and tool_input.get("manifest")
        return "kubectl -f manifest" if manifest else "kubectl"
    if tool.startswith("mcp__"):
        return "mcp"
    return tool if tool == "http_request" else "unknown tool"


def _figures(label: str, latencies: list[int]) -> str:
    ordered = sorted(latencies)
    per_second = len(ordered) / (sum(ordered) / 1e9)
    return (
        f"  {label:20} {len(ordered):5} calls {per_second:9,.0f}/s "
        f"p50 {_percentile(ordered, 0.50):7.1f} µs  p99 {_percentile(ordered, 0.99):7.1f} µs"
    )


@pytest.mark.benchmark
def test_guardrails_decisions_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    calls = _mixed_calls()
    state = CooldownState()
    for rules, tool, tool_input in calls[:WARM_UP]:
        judge(tool, tool_input, rules, state, NOW)
    latencies: list[int] = []
    verdicts: list[Verdict] = []
    clock = time.perf_counter_ns
    started = clock()
    for rules, tool, tool_input in calls:
        before = clock()
        verdicts.append(judge(tool, tool_input, rules, state, NOW))
        latencies.append(clock() - before)
    seconds = (clock() - started) / 1e9
    by_kind: dict[str, list[int]] = {}
    for (_, tool, tool_input), latency in zip(calls, latencies, strict=True):
        by_kind.setdefault(_kind(tool, tool_input), []).append(latency)
    ordered = sorted(latencies)
    decisions = Counter(v.decision.value for v in verdicts)
    with capsys.disabled():  # the figures are the point: show them even when captured
        print(
            f"\nguardrails: {len(calls)} calls in {seconds:.3f} s, "
            f"{len(calls) / seconds:,.0f} decisions/s; latency p50 "
            f"{_percentile(ordered, 0.50):.1f} µs, p99 {_percentile(ordered, 0.99):.1f} µs, "
            f"max {ordered[-1] / 1_000:.1f} µs; {dict(sorted(decisions.items()))}"
        )
        for kind in sorted(by_kind):
            print(_figures(kind, by_kind[kind]))
    assert len(verdicts) == len(calls) >= 5_000
    assert all(isinstance(v.decision, Decision) for v in verdicts)
