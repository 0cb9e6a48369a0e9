"""Feeds mean feedback per (model, version, task) into the outcome window, off the hot path.

One query every `interval_s` (30 s) over the last `window` of ratings; a failed query keeps
the previous means. Nothing on the request path waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from router.outcomes import OutcomeWindow

logger = logging.getLogger("motherfluxer.router")

Means = dict[tuple[str, str, str], tuple[float, int]]


class FeedbackRefresher:
    def __init__(
        self,
        fetch: Callable[[datetime], Awaitable[Means]],
        outcomes: OutcomeWindow,
        *,
        interval_s: float = 30.0,
        window: timedelta = timedelta(days=7),
    ) -> None:
        self._fetch = fetch
        self._outcomes = outcomes
        self._interval = interval_s
        self._window = window
        self._task: asyncio.Task[None] | None = None

    async def refresh_once(self) -> Means:
        means = await self._fetch(datetime.now(UTC) - self._window)
        self._outcomes.set_feedback(means)
        return means

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh_once()
            except Exception as exc:  # keep the previous means; try again next round
                logger.warning("feedback refresh failed (%s)", type(exc).__name__)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
