"""What one running server knows about itself: backend, in-flight work, drain, registration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from model_server.config import Settings
from model_server.metrics import Metrics
from model_server.registration import RouterRegistration
from model_server.supervisor import BackendSupervisor

log = logging.getLogger(__name__)


class ServerState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.supervisor = BackendSupervisor(settings)
        self.metrics = Metrics()
        self.started = time.monotonic()
        self.created = int(time.time())
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        self.registration: RouterRegistration | None = None
        self._drained: asyncio.Task[None] | None = None

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    @property
    def demo(self) -> bool:
        info = self.supervisor.info
        if info is not None:
            return info.demo
        s = self.settings
        if s.backend in ("tiny", "echo"):
            return True
        return s.backend == "auto" and not s.model_id and not s.model_path

    @property
    def backend_name(self) -> str:
        info = self.supervisor.info
        if info is not None:
            return info.backend
        if self.settings.backend != "auto":
            return self.settings.backend
        return "tiny" if self.demo else "transformers"

    @property
    def fingerprint(self) -> str:
        return f"{self.backend_name}-{self.settings.model_version}"

    @property
    def ready(self) -> bool:
        return self.supervisor.ready and not self.draining

    def heartbeat_status(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "queue_depth": max(0, self.supervisor.outstanding - 1),
            "tokens_per_second": round(self.metrics.tokens_per_second, 3),
            "ready": self.ready,
        }

    async def drain(self) -> None:
        """Stop taking work, let running requests finish (bounded), then leave the router."""
        if self._drained is None:
            self._drained = asyncio.ensure_future(self._drain())
        await asyncio.shield(self._drained)

    async def _drain(self) -> None:
        self.draining = True
        log.info("draining: waiting for %d in-flight request(s)", self.in_flight)
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.settings.drain_timeout_s)
        if self.in_flight:
            log.warning("drain timeout: %d request(s) still running", self.in_flight)
        if self.registration is not None:
            await self.registration.deregister()
