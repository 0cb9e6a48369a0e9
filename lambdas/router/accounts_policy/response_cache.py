"""The response cache step: a hit answers before dispatch, a buffered 200 is stored after."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import orjson

from router.dispatch import BufferedAnswer, RouteInfo, Usage
from router.dispatch.types import from_header

logger = logging.getLogger("motherfluxer.router")

_ROUTE = "x-motherfluxer-"


async def lookup(cache: Any, key: str | None) -> Any:
    """The stored answer, or None (a cache that is down is a miss, never an error)."""
    if key is None or cache is None:
        return None
    try:
        return await cache.get(key)
    except Exception:
        return None


def fresh_identity(parsed: dict[str, Any]) -> dict[str, Any]:
    """The stored answer under a new `id` and `created`: a hit is a new response to the caller
    (clients key logs and dedupe on the id), only its content is reused."""
    old = parsed.get("id")
    prefix = old.split("-", 1)[0] if isinstance(old, str) and "-" in old else "chatcmpl"
    return {**parsed, "id": f"{prefix}-{secrets.token_hex(12)}", "created": int(time.time())}


def hit_answer(hit: Any, request_id: str) -> tuple[BufferedAnswer, Usage]:
    """The stored answer with the route it had when it was stored, marked as a hit."""
    stored = dict(hit.headers)
    try:
        parsed = orjson.loads(hit.body)
    except orjson.JSONDecodeError:
        parsed = None
    usage = Usage.from_obj(parsed.get("usage") if isinstance(parsed, dict) else None) or Usage()
    if isinstance(parsed, dict):
        parsed = fresh_identity(parsed)
    route = RouteInfo(
        request_id=request_id,
        reason=from_header(stored.pop(_ROUTE + "route-reason", "cache hit")),
        attempts=0,
        task=stored.pop(_ROUTE + "task", None),
        model=stored.pop(_ROUTE + "model", None),
        version=stored.pop(_ROUTE + "version", None),
        instance_id=stored.pop(_ROUTE + "instance", None),
    )
    stored.pop(_ROUTE + "attempts", None)
    route.extra.update(stored)
    route.extra[_ROUTE + "cache"] = "hit"
    if isinstance(parsed, dict):
        body = orjson.dumps(parsed)
    else:
        body = hit.body.encode() if isinstance(hit.body, str) else hit.body
    answer = BufferedAnswer(
        status=200,
        body=body,
        route=route,
        parsed=parsed if isinstance(parsed, dict) else None,
        cached=True,
    )
    return answer, usage


async def store(cache: Any, key: str, answer: BufferedAnswer) -> None:
    answer.route.extra[_ROUTE + "cache"] = "miss"
    headers = {k: v for k, v in answer.route.headers().items() if k.startswith(_ROUTE)}
    headers.pop(_ROUTE + "cost-usd", None)
    headers.pop(_ROUTE + "cache", None)
    try:
        await cache.put(key, answer.body.decode(), headers)
    except Exception:
        logger.warning("response cache write failed")
