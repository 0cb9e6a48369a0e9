"""The backend child process: loads the model, then serves generation jobs from a pipe.

Living in its own process is what makes recovery possible: a segfault, an out-of-memory kill or
a wedged CUDA context takes down only this process, and the server restarts it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, NoReturn

from model_server.protocol import (
    BackendInfo,
    EmbeddingJob,
    EmbeddingResult,
    GenerationError,
)

log = logging.getLogger("model_server.worker")


def _refuse(conn: Connection, exc: Exception) -> NoReturn:
    log.error("backend failed to load: %s: %s", type(exc).__name__, exc)
    with contextlib.suppress(OSError):
        conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
        conn.close()
    sys.exit(3)


def _prepare_grammar(backend: Any) -> None:
    """Build the grammar view of the tokenizer before "ready" (about a second on big
    vocabularies) rather than on the first structured-output request. A tokenizer it cannot
    take costs structured output and tools, declared in the capabilities, not the model."""
    if not hasattr(backend, "grammar"):
        return
    try:
        backend.grammar()
    except Exception as exc:
        log.warning("no grammar support for this tokenizer: %s: %s", type(exc).__name__, exc)
        backend.capabilities.update(structured_output=False, tools=False)


def embed(backend: Any, job: EmbeddingJob) -> EmbeddingResult:
    if not hasattr(backend, "embed"):
        raise GenerationError(
            f"the {backend.name} backend cannot embed", kind="invalid_input", param="model"
        )
    return backend.embed(job)


def run(conn: Connection, settings: dict[str, Any]) -> None:
    # Ctrl-C reaches the whole process group; shutdown is the server's decision, not ours.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=settings.get("log_level", "info").upper(),
        format="%(asctime)s %(levelname)s backend[%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from model_server.backends.base import generate_with_stops
    from model_server.backends.factory import check_source, load_backend, preload

    try:
        check_source(settings)
    except Exception as exc:
        _refuse(conn, exc)
    with contextlib.suppress(Exception):
        preload(settings)
    # A standby waits here, imports done, until the server promotes it (or goes away).
    try:
        order = conn.recv()
    except (EOFError, OSError):
        return
    if order != ("start",):
        return

    try:
        backend = load_backend(settings)
    except Exception as exc:
        _refuse(conn, exc)
    _prepare_grammar(backend)

    conn.send(
        (
            "ready",
            BackendInfo(
                backend=backend.name,
                model=backend.model,
                demo=backend.demo,
                pid=os.getpid(),
                context_window=backend.context_window,
                capabilities=dict(getattr(backend, "capabilities", {}) or {}),
            ),
        )
    )
    log.info("backend %s ready", backend.name)

    jobs: queue.Queue[tuple[str, Any] | None] = queue.Queue()
    cancels: dict[str, threading.Event] = {}
    faults: set[str] = set()
    fault_switch = bool(settings.get("enable_faults"))

    def read_commands() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                # The server is gone: stop whatever runs and exit.
                for event in list(cancels.values()):
                    event.set()
                jobs.put(None)
                return
            kind = msg[0]
            if kind == "generate":
                cancels[msg[1]] = threading.Event()
                jobs.put((msg[1], msg[2]))
            elif kind == "cancel":
                event = cancels.get(msg[1])
                if event is not None:
                    event.set()
            elif kind == "fault" and fault_switch:
                if msg[1] == "crash_now":
                    os._exit(70)
                faults.add(msg[1])
            elif kind == "shutdown":
                jobs.put(None)
                return

    threading.Thread(target=read_commands, name="commands", daemon=True).start()

    while True:
        item = jobs.get()
        if item is None:
            break
        request_id, job = item
        cancel = cancels.get(request_id) or threading.Event()
        if "crash_on_next_request" in faults:
            os._exit(71)
        if "hang_on_next_request" in faults:
            faults.discard("hang_on_next_request")
            threading.Event().wait()
        try:
            if cancel.is_set():
                continue
            # Test faults: a slow or late answer, so drains and disconnects can be observed
            # while a request is in flight.
            slow = "slow_next_request" in faults
            faults.discard("slow_next_request")
            if "delay_next_request" in faults:
                faults.discard("delay_next_request")
                cancel.wait(3.0)
            if isinstance(job, EmbeddingJob):
                conn.send(("event", request_id, embed(backend, job)))
                continue
            for event in generate_with_stops(backend, job, cancel):
                if slow:
                    time.sleep(0.05)
                conn.send(("event", request_id, event))
        except GenerationError as exc:
            conn.send(("error", request_id, str(exc), exc.kind, exc.param))
        except (BrokenPipeError, OSError):
            break
        except Exception as exc:
            log.exception("generation crashed")
            conn.send(
                ("error", request_id, f"backend error: {type(exc).__name__}", "backend_error")
            )
        finally:
            cancels.pop(request_id, None)
    conn.close()
