"""``infraagent crds generate|check``: write or verify ``crds/`` from the models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infraagent.models.crd import all_crds, render


def register(commands: Any) -> None:
    """Add the ``crds`` command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "crds", help="generate or check the CustomResourceDefinitions in crds/"
    )
    parser.add_argument("action", choices=("generate", "check"))
    parser.add_argument(
        "--output", type=Path, default=Path("crds"), help="directory of the CRD files (crds)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the CRDs, or check that the directory holds exactly what would be generated."""
    expected = {name: render(doc) for name, doc in all_crds().items()}
    out: Path = args.output
    if args.action == "generate":
        out.mkdir(parents=True, exist_ok=True)
        for name, text in expected.items():
            (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {len(expected)} CRDs to {out}")
        return 0
    stale = [
        name
        for name, text in expected.items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]
    extra = (
        sorted(p.name for p in out.glob("*.yaml") if p.name not in expected) if out.is_dir() else []
    )
    for name in stale:
        print(
            f"{out / name}: differs from the models; run `infraagent crds generate`",
            file=sys.stderr,
        )
    for name in extra:
        print(f"{out / name}: not generated from any model; remove it", file=sys.stderr)
    return 1 if stale or extra else 0
