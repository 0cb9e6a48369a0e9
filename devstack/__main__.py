"""`python -m devstack` (what `make run` does): the local stack in the foreground."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from devstack.stack import EmbeddedStack, default_options


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # pgserver narrates every command it runs; its log file under .local keeps the detail.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    options = default_options()
    stack = EmbeddedStack(options)
    stop = threading.Event()

    def _signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _signal)
    signal.signal(signal.SIGTERM, _signal)
    print(f"Starting MotherFluxer locally (data in {options.data_dir}) ...", flush=True)
    try:
        stack.start()
    except Exception as exc:
        print(f"MotherFluxer failed to start: {exc}", file=sys.stderr, flush=True)
        return 1
    models = ", ".join(stack.local_models)
    _write_cli_files(options.data_dir, stack)
    lines = [
        f"  Console:   {stack.url}/ui/   (admin pages: {stack.url}/ui/admin)",
        f"  Router:    {stack.url}   (OpenAI base URL: {stack.url}/v1)",
        f"  Admin key: {stack.admin_key}",
    ]
    if stack.api_key:
        lines.append(f"  API key:   {stack.api_key}   (registered tier, user local-developer)")
        lines.append("  No key:    demo tier (rate-limited per client IP, small max_tokens)")
    lines += [
        f"  Models:    {models}   (tiny demo models: their answers are noise)",
        "  Providers: "
        + (", ".join(i.model for i in stack.external_instances) or "none (set a provider key)"),
        f"  Logs:      {options.data_dir / 'logs'}",
    ]
    print("\n" + "\n".join(lines) + "\n\nMotherFluxer is ready. Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(1.0):
            dead = [c.name for c in stack.children if not c.alive()]
            if dead:
                print(f"stopping: {', '.join(dead)} exited unexpectedly", file=sys.stderr)
                break
    finally:
        print("Stopping MotherFluxer ...", flush=True)
        stack.stop()
        print("Stopped.", flush=True)
    return 0


def _write_cli_files(data_dir: Path, stack: EmbeddedStack) -> None:
    """Where the `motherfluxer` CLI finds this stack with no flags (owner-only files)."""
    files = {"router_url": stack.url, "admin_key": stack.admin_key, "api_key": stack.api_key}
    for name, value in files.items():
        if value:
            fd = os.open(data_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(value + "\n")


if __name__ == "__main__":
    sys.exit(main())
