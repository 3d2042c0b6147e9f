"""``python -m infraagent.providers.scripted SCRIPT [--host H] [--port N] [--api-key K]``.

Serves SCRIPT until interrupted, printing the base URLs to configure and one line per
request. For demos; tests start a ``ScriptedServer`` in process instead.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from infraagent.providers.scripted.script import ScriptError, load_script
from infraagent.providers.scripted.server import ScriptedServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infraagent.providers.scripted",
        description="Serve a scripted model over the Anthropic and OpenAI wire formats.",
    )
    parser.add_argument("script", type=Path, help="YAML script of turns and faults")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--api-key", help="refuse requests without this key (401)")
    args = parser.parse_args(argv)
    try:
        script = load_script(args.script)
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = ScriptedServer(
        script, host=args.host, port=args.port, api_key=args.api_key, log=_print
    ).start()
    _print(f"scripted model serving {len(script.turns)} entries from {args.script}")
    _print(f"  anthropic endpoint: {server.url}")
    _print(f"  openai endpoint:    {server.openai_base_url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _print(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
