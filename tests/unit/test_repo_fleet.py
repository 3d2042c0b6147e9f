"""This repository's own example fleet (agents/, environments/, skills/) validates cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infraagent.cli.main import main

ROOT = Path(__file__).resolve().parent.parent.parent


def test_repository_fleet_is_valid(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    status = main(["validate", ".", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert errors == []
    assert status == 0
    assert report["files"] > 0
