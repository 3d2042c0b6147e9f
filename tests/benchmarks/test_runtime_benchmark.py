"""Runtime figures against the local scripted server, with the real Anthropic SDK:
input tokens per iteration as pruning takes over, and the loop's own overhead per
iteration (wall time minus time inside the model call). Printed, not asserted as timers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import yaml

from infraagent.loading.bundle import load_bundle
from infraagent.models.conversation import Completion, CompletionRequest
from infraagent.models.modeltier import Provider
from infraagent.ports import ModelProvider
from infraagent.providers import ProviderConfig, make_provider
from infraagent.providers.scripted import ScriptedServer, parse_script
from infraagent.redaction import Redactor
from infraagent.runtime.assemble import agent_input
from infraagent.runtime.loop import RunPorts, RunSettings, run_agent
from tests.integration.test_runtime_sdk import REPO, Clock, Tools, k


@dataclass
class Timed:
    """Wraps a provider: time inside each call and the input tokens it reported."""

    inner: ModelProvider
    seconds: list[float] = field(default_factory=list)
    input_tokens: list[int] = field(default_factory=list)

    def complete(self, request: CompletionRequest) -> Completion:
        started = time.perf_counter()
        completion = self.inner.complete(request)
        self.seconds.append(time.perf_counter() - started)
        self.input_tokens.append(completion.usage.input_tokens)
        return completion


def _run(output: str, iterations: int, history: int) -> tuple[Timed, float]:
    turns = [
        {"tool_calls": [k(f"get pods -n backstage -l run={i}")]} for i in range(iterations - 1)
    ]
    script = parse_script(yaml.safe_dump({"turns": [*turns, {"text": "done"}]}))
    bundle = load_bundle(
        REPO / "agents" / "forge.yaml", REPO / "environments" / "dev-lab.yaml", REPO / "skills"
    )
    assert bundle.agent is not None
    inputs = agent_input(bundle.agent, bundle.environment, bundle.sheets, bundle.instructions)
    with ScriptedServer(script) as server:
        config = ProviderConfig(Provider.ANTHROPIC, "scripted-1", server.url, "sk-bench")
        timed = Timed(make_provider(config))
        settings = RunSettings(
            "scripted-1", iterations, 10_000_000, timedelta(hours=1), 512, history
        )
        ports = RunPorts(timed, Tools(output=output), Redactor.with_values(["sk-bench"]), Clock())
        started = time.perf_counter()
        result = run_agent(inputs, settings, ports)
        elapsed = time.perf_counter() - started
    assert result.iterations == iterations
    return timed, elapsed


@pytest.mark.benchmark
def test_input_tokens_stop_growing_once_pruning_starts(capsys: pytest.CaptureFixture[str]) -> None:
    timed, _ = _run("log line with details\n" * 900, iterations=20, history=8_000)  # ~20 KB each
    tokens = timed.input_tokens
    with capsys.disabled():
        print(
            "\ninput tokens per iteration: "
            + " ".join(f"{i + 1}:{t}" for i, t in enumerate(tokens))
        )
        print(f"iteration 20 / iteration 6 = {tokens[19] / tokens[5]:.2f}")
    assert tokens[19] <= 1.2 * tokens[5]


@pytest.mark.benchmark
def test_runtime_overhead_per_iteration(capsys: pytest.CaptureFixture[str]) -> None:
    _run("NAME READY\nweb-1 1/1\n" * 50, iterations=5, history=12_000)  # warm up
    timed, elapsed = _run("NAME READY\nweb-1 1/1\n" * 50, iterations=30, history=12_000)
    overhead_ms = (elapsed - sum(timed.seconds)) / len(timed.seconds) * 1000
    model_ms = sum(timed.seconds) / len(timed.seconds) * 1000
    with capsys.disabled():
        print(f"\nruntime overhead: {overhead_ms:.2f} ms per iteration "
              f"(model round trip to the local server: {model_ms:.2f} ms)")  # fmt: skip
    assert len(timed.seconds) == 30
