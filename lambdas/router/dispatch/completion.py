"""Running the record step when a dispatch ends, even when the client's disconnect cancels us."""

from __future__ import annotations

import asyncio
import logging

from router.dispatch.types import CompletionHook, DispatchOutcome

logger = logging.getLogger("motherfluxer.router")

_COMPLETING: set[asyncio.Task[None]] = set()


async def call_hook(hook: CompletionHook | None, outcome: DispatchOutcome) -> None:
    if hook is None:
        return
    try:
        result = hook(outcome)
        if asyncio.iscoroutine(result):
            await result
    except Exception:
        logger.exception("completion hook failed for request %s", outcome.request_id)


async def call_hook_shielded(hook: CompletionHook | None, outcome: DispatchOutcome) -> None:
    """Starlette cancels a streaming response's task when the client hangs up; the usage record
    and the budget settlement must not be cancelled with it. The task is kept referenced so
    the event loop cannot drop it half-way."""
    task = asyncio.ensure_future(call_hook(hook, outcome))
    _COMPLETING.add(task)
    task.add_done_callback(_COMPLETING.discard)
    await asyncio.shield(task)
