"""How fast ``Redactor.redact`` is on a 20 KB tool output, the size the runtime truncates to.

Ordinary kubectl output (a ``get pods -o wide`` table, ``describe pod``, events, ConfigMaps
and Pods as YAML, logs, Deployments as JSON), and, for comparison, Secret lists in YAML and
JSON, each grown to 20 KB. The redactor knows five credential values, as a typical
environment binds. Prints the median and p99 time per call for each; it is not a pass/fail
timer (the target is well under 1 ms for ordinary output). Crafted outputs (thousands of
``data:`` lines, PEM headers without an end, ...) show that the worst case stays bounded.
It only asserts that ordinary output comes back unchanged and that no Secret value survives.
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from typing import Final

import pytest

from infraagent.redaction import REDACTED, Redactor
from tests.unit.test_redaction import (
    CONFIGMAP_YAML,
    DEPLOYMENT_JSON,
    DESCRIBE_POD,
    EVENTS,
    LOGS,
    POD_YAML,
    PODS_WIDE,
)

SIZE: Final = 20_000
ROUNDS: Final = 300
KNOWN: Final = (
    "grafana-token-3f9a8c71",
    "pg-Sup3r-s3cret!",
    "xoxb-not-a-real-token-value",
    "AKIAEXAMPLEKEYVALUE1",
    "webhook-signing-secret-77",
)


def _grow(sample: str, separator: str = "") -> str:
    """``sample`` repeated (joined by ``separator``) to about ``SIZE`` characters."""
    copies = SIZE // (len(sample) + len(separator)) + 1
    return separator.join([sample] * copies)[:SIZE]


def _json_list(document: str) -> str:
    item = json.loads(document)
    copies = SIZE // len(document) + 1
    return json.dumps({"apiVersion": "v1", "items": [item] * copies, "kind": "List"}, indent=4)


def _secret(n: int) -> dict[str, object]:
    value = base64.b64encode(f"value-{n}-0123456789".encode()).decode()
    return {
        "apiVersion": "v1",
        "data": {"password": value, "username": base64.b64encode(b"app").decode()},
        "kind": "Secret",
        "metadata": {"name": f"db-{n}", "namespace": "shop", "resourceVersion": str(1000 + n)},
        "type": "Opaque",
    }


def _secret_lists() -> tuple[str, str]:
    items = [_secret(n) for n in range(60)]
    as_json = json.dumps({"apiVersion": "v1", "items": items, "kind": "List"}, indent=4)
    lines = ["apiVersion: v1", "items:"]
    for item in items:
        data = item["data"]
        assert isinstance(data, dict)
        lines += ["- apiVersion: v1", "  data:"]
        lines += [f"    {key}: {value}" for key, value in data.items()]
        lines += ["  kind: Secret", "  metadata:", f"    name: {item['metadata']['name']}"]  # type: ignore[index]
        lines += ["    namespace: shop", "  type: Opaque"]
    lines += ["kind: List", "metadata:", '  resourceVersion: ""']
    return "\n".join(lines) + "\n", as_json


ORDINARY: Final = {
    "get pods -o wide": _grow(PODS_WIDE),
    "describe pod": _grow(DESCRIBE_POD),
    "get events": _grow(EVENTS),
    "configmaps -o yaml": _grow(CONFIGMAP_YAML, "---\n"),
    "pods -o yaml": _grow(POD_YAML, "---\n"),
    "logs": _grow(LOGS),
    "deployments -o json": _json_list(DEPLOYMENT_JSON),
}


CRAFTED: Final = {
    "20 KB of 'data:' lines": "data:\n" * 3300,
    "20 KB of 'value:' lines": "value: x\n" * 2200,
    "PEM headers, no END": "-----BEGIN PRIVATE KEY-----\n" * 740,
    "pretty JSON data maps": '  "data": {\n    "a": "b"\n  },\n' * 700,
    "20 KB of 'password:'": "password: x\n" * 1600,
}


def _time(redactor: Redactor, text: str) -> tuple[float, float]:
    for _ in range(20):
        redactor.redact(text)
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        redactor.redact(text)
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


@pytest.mark.benchmark
def test_redaction_of_20kb_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    redactor = Redactor.with_values(KNOWN)
    secret_yaml, secret_json = _secret_lists()
    lines = []
    medians = []
    for name, text in ORDINARY.items():
        assert redactor.redact(text) == text, name
        median, p99 = _time(redactor, text)
        medians.append(median)
        lines.append(
            f"  {name:<22} {len(text):>6} chars  median {median:6.0f} µs  p99 {p99:6.0f} µs"
        )
    for name, text in (("secrets -o yaml", secret_yaml), ("secrets -o json", secret_json)):
        redacted = redactor.redact(text)
        assert "dmFsdWUt" not in redacted and redacted.count(REDACTED) == 120, name
        median, p99 = _time(redactor, text)
        lines.append(
            f"  {name:<22} {len(text):>6} chars  median {median:6.0f} µs  p99 {p99:6.0f} µs"
        )
    crafted = []
    for name, text in CRAFTED.items():
        start = time.perf_counter()
        redactor.redact(text)
        crafted.append(f"  {name:<26} {(time.perf_counter() - start) * 1e3:6.1f} ms")
    with capsys.disabled():  # the figure is the point: show it even when output is captured
        print(f"\nredaction of ~20 KB tool outputs ({len(KNOWN)} known values):")
        print("\n".join(lines))
        print(f"  ordinary output: median of medians {statistics.median(medians):.0f} µs")
        print("crafted worst cases, one call each:")
        print("\n".join(crafted))
