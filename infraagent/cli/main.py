"""``infraagent``: the command-line entry point.

Each sub-command lives in its own module with ``register(subparsers)``, which adds the
parser and sets ``func`` (returning the exit status). Exit statuses: 0 success, 1 the
command ran and found problems, 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infraagent import __version__
from infraagent.cli import crds, guardrails, install, reconcile, run, validate
from infraagent.cli import operator as operator_command


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command registered."""
    parser = _Parser(prog="infraagent", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"infraagent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    validate.register(commands)
    crds.register(commands)
    guardrails.register(commands)
    run.register(commands)
    install.register(commands)
    operator_command.register(commands)
    reconcile.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    status: int = func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
