"""Bookkeeping a response need not wait for: run once the response is on its way.

At c=1 the client's wait is the router's CPU between reading the request and writing the
answer. Metrics, the outcome window, a successful attempt's health sample and the trace span
change nothing in the answer, so in a long-running process they are queued with
`loop.call_soon`: the request's task writes its response without yielding, and the loop runs
them right after, while the answer travels to the client. In Lambda the environment may freeze
as soon as the response is sent, so there they run at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from contracts import env

logger = logging.getLogger("motherfluxer.router")


def deferring() -> bool:
    return not os.environ.get(env.LAMBDA_FUNCTION_NAME)


def soon(fn: Callable[..., Any], *args: Any) -> None:
    """`fn(*args)` after the current response is sent (at once where that is not safe)."""
    if deferring():
        asyncio.get_running_loop().call_soon(_guarded, fn, args)
    else:
        fn(*args)


def _guarded(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception:
        logger.exception("after-response bookkeeping failed (%s)", getattr(fn, "__qualname__", fn))
