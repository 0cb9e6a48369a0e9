"""After-response settlement: usage records spooled and reservations settled in batches.

The router hands a finished request here and sends its response at once. One background task
takes whatever has accumulated, spools the records in one outbox transaction (or one SQS batch),
then settles the whole batch in one pipelined Redis round trip. A batch waits up to 25 ms for
company, so even back-to-back requests from one client share their spool and settle. Under
load a batch holds many requests, so the per-request cost of durability falls as traffic rises;
the client never waits for it. Until a record is spooled its intent is still in Redis
(`accounts.orphans`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from accounts.usage import UsageRecord, UsageSink

log = logging.getLogger(__name__)

MAX_BATCH = 256
# How long a record may wait for others to share its batch. Requests arriving back to back
# would otherwise each pay a spool and a settle right as the next one is being served.
LINGER_S = 0.025

Settle = Callable[[Sequence[tuple[Any, UsageRecord]]], Awaitable[Sequence[Any]]]
OnSettled = Callable[[UsageRecord, Any], None]


async def put_all(sink: UsageSink, records: Sequence[UsageRecord]) -> None:
    many = getattr(sink, "put_many", None)
    if many is not None:
        await many(records)
        return
    for record in records:
        await sink.put(record)


class Settler:
    def __init__(
        self,
        sink: UsageSink,
        settle: Settle,
        max_batch: int = MAX_BATCH,
        linger_s: float = LINGER_S,
    ) -> None:
        self.sink = sink
        self.settle = settle
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._full = asyncio.Event()
        self._flushing = 0
        self._pending: list[tuple[Any, UsageRecord, OnSettled | None]] = []
        self._task: asyncio.Task[None] | None = None

    def submit(self, admission: Any, record: UsageRecord, on_settled: OnSettled | None) -> None:
        self._pending.append((admission, record, on_settled))
        if len(self._pending) >= self.max_batch:
            self._full.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="settler")

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def _linger(self) -> None:
        if len(self._pending) >= self.max_batch or self.linger_s <= 0 or self._flushing:
            return
        self._full.clear()
        try:
            await asyncio.wait_for(self._full.wait(), self.linger_s)
        except TimeoutError:
            pass

    async def _run(self) -> None:
        while self._pending:
            await self._linger()
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            records = [record for _, record, _ in batch]
            try:
                await put_all(self.sink, records)
            except Exception:
                # The outbox is local disk (or SQS): reaching here is loud. The intents stay in
                # Redis, so the orphan sweep still writes these requests to the ledger.
                log.exception("%d usage records could not be spooled", len(records))
                continue
            try:
                done = await self.settle([(a, r) for a, r, _ in batch])
            except Exception:
                log.exception("settling %d requests failed", len(batch))
                continue
            for (_, record, on_settled), completion in zip(batch, done, strict=True):
                if on_settled is not None:
                    try:
                        on_settled(record, completion)
                    except Exception:
                        log.exception("after-settle callback failed")

    async def flush(self) -> None:
        """Return once everything submitted so far is spooled and settled (no lingering)."""
        self._flushing += 1
        self._full.set()
        try:
            while self._task is not None and not self._task.done():
                await asyncio.shield(self._task)
        finally:
            self._flushing -= 1
