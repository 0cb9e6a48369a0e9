"""Keeps the backend child alive: starts it, routes jobs to it, notices when it dies or stalls,
and restarts it with capped exponential backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from model_server.config import Settings
from model_server.protocol import BackendInfo, GenerationError, GenerationEvent, GenerationJob

log = logging.getLogger(__name__)

# Spawn, not fork: forking a process that already runs threads (uvicorn, aiohttp) is unsafe,
# and the server itself never imports torch, so the child starts clean.
_ctx = multiprocessing.get_context("spawn")


class BackendUnavailable(Exception):
    """The backend is loading, restarting, or died while this request was running."""


class _BackendGone:
    pass


_GONE = _BackendGone()


class BackendSupervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False
        self.info: BackendInfo | None = None
        self.restarts = 0
        self.last_error: str | None = None
        self.stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: Any = None
        self._conn: Any = None
        self._send_lock = threading.Lock()
        self._generation = 0
        self._pending: dict[str, asyncio.Queue[Any]] = {}
        self._last_activity = time.monotonic()
        self._ready_since = 0.0
        self._consecutive_failures = 0
        self._ready_event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        # A spare process with imports done, promoted when the backend dies (see _spawn).
        self._standby: tuple[Any, Any] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def outstanding(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawn()
        self._keep(asyncio.create_task(self._watch_stalls(), name="backend-stall-watch"))

    async def wait_ready(self) -> None:
        await self._ready_event.wait()

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_process(self) -> tuple[Any, Any]:
        """A backend process that imports its libraries, then waits for ("start",)."""
        from model_server import worker

        parent_conn, child_conn = _ctx.Pipe(duplex=True)
        process = _ctx.Process(
            target=worker.run,
            args=(child_conn, self.settings.for_backend()),
            name="model-backend",
            daemon=True,
        )
        process.start()
        # Our copy of the child's end must be closed, or we would never see EOF when it dies.
        child_conn.close()
        return process, parent_conn

    def _spawn(self) -> None:
        standby, self._standby = self._standby, None
        if standby is not None and standby[0].is_alive():
            process, conn = standby
            how = "promoted standby"
        else:
            process, conn = self._new_process()
            how = "started"
        try:
            conn.send(("start",))
        except (OSError, ValueError):
            # The standby died quietly; the reader sees EOF and the usual restart follows.
            log.warning("backend process %s did not take the start order", process.pid)
        self._generation += 1
        generation = self._generation
        self._process, self._conn = process, conn
        self._last_activity = time.monotonic()
        log.info("backend process %s %s (generation %d)", process.pid, how, generation)
        threading.Thread(
            target=self._read_loop,
            args=(conn, generation),
            name=f"backend-reader-{generation}",
            daemon=True,
        ).start()

    def _prepare_standby(self) -> None:
        if self.settings.warm_standby and self._standby is None and not self.stopping:
            self._standby = self._new_process()
            log.info("standby backend process %s warming up", self._standby[0].pid)

    def _read_loop(self, conn: Any, generation: int) -> None:
        assert self._loop is not None
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # a garbled message means the child is in trouble
                log.error("unreadable message from backend: %s", type(exc).__name__)
                break
            self._loop.call_soon_threadsafe(self._on_message, generation, msg)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_child_gone, generation)

    def _on_message(self, generation: int, msg: tuple[Any, ...]) -> None:
        if generation != self._generation:
            return
        self._last_activity = time.monotonic()
        kind = msg[0]
        if kind == "event" or kind == "error":
            queue = self._pending.get(msg[1])
            if queue is not None:
                queue.put_nowait(msg[2] if kind == "event" else GenerationError(*msg[2:]))
        elif kind == "ready":
            self.info = msg[1]
            self.ready = True
            self.last_error = None
            self._ready_since = time.monotonic()
            self._ready_event.set()
            log.info("backend ready: %s (%s)", self.info.model, self.info.backend)
            # Only now, so the spare does not compete with the first load for CPU and disk.
            self._prepare_standby()
        elif kind == "load_error":
            self.last_error = msg[1]

    def _on_child_gone(self, generation: int) -> None:
        if generation != self._generation:
            return
        process = self._process
        code = process.exitcode if process is not None else None
        if process is not None and code is None:
            # Its pipe is closed but it lingers: it can never answer again, so end it, and
            # reap it off the event loop.
            self.kill()
            self._keep(asyncio.create_task(asyncio.to_thread(process.join, 5)))
        was_ready = self.ready
        self.ready = False
        self._ready_event.clear()
        for queue in self._pending.values():
            queue.put_nowait(_GONE)
        if self.stopping:
            return
        if was_ready and time.monotonic() - self._ready_since > 60:
            self._consecutive_failures = 0
        self._consecutive_failures += 1
        self.restarts += 1
        delay = min(
            self.settings.restart_backoff_cap_s,
            self.settings.restart_backoff_base_s * 2 ** (self._consecutive_failures - 1),
        )
        if self.last_error is None:
            self.last_error = f"backend exited with code {code}"
        log.warning("backend process exited (code %s); restarting in %.1fs", code, delay)
        self._keep(asyncio.create_task(self._restart_after(delay), name="backend-restart"))

    async def _restart_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.stopping:
            self._spawn()

    async def _watch_stalls(self) -> None:
        """A child that holds work but says nothing for too long is wedged: kill it."""
        while not self.stopping:
            await asyncio.sleep(1.0)
            if not self._pending or not self.ready:
                continue
            if time.monotonic() - self._last_activity > self.settings.stall_timeout_s:
                log.error(
                    "backend silent for %.0fs with work pending; killing it",
                    self.settings.stall_timeout_s,
                )
                self.last_error = "backend stalled"
                self.kill()

    def kill(self) -> None:
        process = self._process
        if process is not None and process.pid is not None and process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)

    def _send(self, msg: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._conn.send(msg)

    def inject_fault(self, kind: str) -> None:
        self._send(("fault", kind))

    async def generate(self, job: GenerationJob) -> AsyncIterator[GenerationEvent]:
        """Stream events for one job. Raises BackendUnavailable if the backend is not there or
        dies midway, and GenerationError if it refuses the job."""
        if not self.ready or self.stopping:
            raise BackendUnavailable("model backend is not ready")
        request_id = uuid.uuid4().hex
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pending[request_id] = queue
        finished = False
        try:
            try:
                self._send(("generate", request_id, job))
            except (OSError, ValueError) as exc:
                raise BackendUnavailable("model backend is not reachable") from exc
            if len(self._pending) == 1:
                self._last_activity = time.monotonic()
            while True:
                item = await queue.get()
                if item is _GONE:
                    raise BackendUnavailable("model backend restarted while answering")
                if isinstance(item, GenerationError):
                    finished = True
                    raise item
                if item.finish_reason is not None:
                    finished = True
                yield item
                if finished:
                    return
        finally:
            self._pending.pop(request_id, None)
            if not finished and self.ready:
                with contextlib.suppress(OSError, ValueError):
                    self._send(("cancel", request_id))

    async def stop(self) -> None:
        self.stopping = True
        for task in list(self._tasks):
            task.cancel()
        if self._standby is not None:
            spare, spare_conn = self._standby
            self._standby = None
            # Closing its pipe is the spare's signal to exit; terminate covers a slow import.
            with contextlib.suppress(OSError):
                spare_conn.close()
            spare.terminate()
            await asyncio.to_thread(spare.join, 2)
        process = self._process
        if process is None:
            return
        if self.ready:
            with contextlib.suppress(OSError, ValueError):
                self._send(("shutdown",))
            await asyncio.to_thread(process.join, 5)
        # A child still loading does not read its pipe yet; there is nothing to finish anyway.
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 2)
        if process.is_alive():
            self.kill()
        with contextlib.suppress(OSError):
            self._conn.close()
