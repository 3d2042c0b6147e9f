"""The original product's example YAML: it fails only where the original itself was wrong.

``tests/fixtures/original-examples/`` reconstructs the original v0.1.0 examples (12 agents
with ``source: bundled``, tool-name globs such as ``http.get *``, hello-world pointing at a
``my-cluster`` environment no example defines, an Action Sheet with ``tool`` and
``targetPattern``). The ModelTierConfig sits at the top of that folder, as in the original,
so it is passed as a second path.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infraagent.cli.main import main

FIXTURE = Path(__file__).parent.parent / "fixtures" / "original-examples"

pytestmark = pytest.mark.skipif(not FIXTURE.is_dir(), reason="fixture not written yet")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    out = io.StringIO()
    paths = [str(FIXTURE)] + [str(p) for p in sorted(FIXTURE.glob("*.yaml"))]
    with contextlib.redirect_stdout(out):
        status = main(["validate", "--format", "json", *paths])
    result: dict[str, Any] = json.loads(out.getvalue())
    result["status"] = status
    return result


def _relative(file: str) -> str:
    return Path(file).relative_to(FIXTURE).as_posix()


def _known_wrong(diagnostic: dict[str, Any]) -> str | None:
    """Which of the original's known mistakes a diagnostic is about, if any."""
    message, field, file = diagnostic["message"], diagnostic["field"], _relative(diagnostic["file"])
    if (
        diagnostic["code"] == "schema"
        and field.startswith("spec.skills[")
        and field.endswith("].source")
        and "'bundled' was a stub in the original" in message
    ):
        return "bundled stub"
    if (
        diagnostic["code"] == "unknown-environment"
        and file == "agents/hello-world.yaml"
        and "'my-cluster' is not defined" in message
    ):
        return "missing my-cluster environment"
    if (
        diagnostic["code"] == "schema"
        and file.startswith("skills/")
        and file.endswith("/actions.yaml")
        and "the original matched globs over a tool name and a target string" in message
    ):
        return "legacy tool/targetPattern sheet"
    return None


def test_every_error_is_a_mistake_of_the_original(report: dict[str, Any]) -> None:
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    unexplained = [d for d in errors if _known_wrong(d) is None]
    assert unexplained == []
    assert {_known_wrong(d) for d in errors} == {
        "bundled stub",
        "missing my-cluster environment",
        "legacy tool/targetPattern sheet",
    }
    assert report["status"] == 1


def test_each_bundled_agent_gets_exactly_one_bundled_error(report: dict[str, Any]) -> None:
    agents = sorted(p.relative_to(FIXTURE).as_posix() for p in (FIXTURE / "agents").glob("*.yaml"))
    bundled = sorted(
        _relative(d["file"]) for d in report["diagnostics"] if _known_wrong(d) == "bundled stub"
    )
    expected = [a for a in agents if "source: bundled" in (FIXTURE / a).read_text(encoding="utf-8")]
    assert bundled == expected
    assert len(expected) >= 12


def _globs() -> Iterator[tuple[str, str]]:
    for path in sorted((FIXTURE / "agents").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            guardrails = document["spec"].get("guardrails", {})
            for field in ("allowedActions", "deniedActions"):
                for index, _ in enumerate(guardrails.get(field, [])):
                    yield path.relative_to(FIXTURE).as_posix(), f"spec.guardrails.{field}[{index}]"


def test_tool_name_globs_are_warnings_not_errors(report: dict[str, Any]) -> None:
    warnings = [d for d in report["diagnostics"] if d["severity"] == "warning"]
    assert {d["code"] for d in warnings} == {"unmatched-action-glob"}
    assert sorted((_relative(d["file"]), d["field"]) for d in warnings) == sorted(_globs())
    assert all("the original's globs over tool names" in d["message"] for d in warnings)
    assert not any(
        d["field"].startswith("spec.guardrails.")
        for d in report["diagnostics"]
        if d["severity"] == "error"
    )


def test_the_model_tier_config_and_environments_are_valid(report: dict[str, Any]) -> None:
    files = {_relative(d["file"]) for d in report["diagnostics"]}
    assert not any(f.startswith("environments/") or f == "model-tier-config.yaml" for f in files)
