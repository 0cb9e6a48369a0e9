"""Shared request helpers: services, request ids, deadlines, client address.

Authorization lives in `router.authz`, the one place for it."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from typing import Any

import orjson
from fastapi import Request

from router.services import Services


def services(request: Request) -> Services:
    return request.app.state.services


def request_id(request: Request) -> str:
    """The router's own id for this request: the ledger's and the reservation's key.

    Never the caller's `x-request-id`: a reused id would let requests share one ledger row.
    """
    return _ids.next()


class _RequestIds:
    """32 hex digits like a uuid4's: 64 random bits per process, then a counter.

    Unique across processes with the odds of a 64-bit collision per pair of processes, and
    without the `getrandom` system call `uuid4` makes for every request.
    """

    def __init__(self) -> None:
        self.reseed()
        # A forked worker must not repeat its parent's ids.
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._prefix = "req_" + secrets.token_hex(8)
        self._count = itertools.count(secrets.randbelow(1 << 32))

    def next(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFFFFFF:016x}"


_ids = _RequestIds()


def client_request_id(request: Request) -> str | None:
    """The caller's `x-request-id`, when it is safe to store and echo (else None)."""
    supplied = request.headers.get("x-request-id", "")
    if 1 <= len(supplied) <= 128 and all(c.isalnum() or c in "-_.:" for c in supplied):
        return supplied
    return None


def deadline(request: Request, default_s: float) -> float:
    """An absolute perf_counter deadline: the Lambda's remaining time when hosted in Lambda."""
    now = time.perf_counter()
    ctx: Any = request.scope.get("aws.context")
    if ctx is not None and hasattr(ctx, "get_remaining_time_in_millis"):
        return now + min(default_s, ctx.get_remaining_time_in_millis() / 1000)
    raw = request.headers.get("x-amzn-lambda-context")
    if raw:
        # Lambda Web Adapter forwards the invocation context, including its deadline (ms).
        try:
            deadline_ms = float(orjson.loads(raw).get("deadline", 0))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            deadline_ms = 0
        if deadline_ms:
            return now + min(default_s, max(0.0, deadline_ms / 1000 - time.time()))
    return now + default_s


def client_ip(request: Request) -> str:
    # Behind API Gateway the source IP comes from the request context, never from a header
    # the client could forge (X-Forwarded-For is believed only from configured proxies, by
    # uvicorn; see router.server_limits).
    event = request.scope.get("aws.event")
    ctx: Any = event.get("requestContext") if isinstance(event, dict) else None
    if ctx is None and _IN_LAMBDA:
        # Lambda Web Adapter passes the API Gateway request context in this header; in Lambda
        # the only peer is the adapter, so a client cannot set it.
        raw = request.headers.get("x-amzn-request-context")
        try:
            ctx = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            ctx = None
    if isinstance(ctx, dict):
        ip = (ctx.get("http") or {}).get("sourceIp") or (ctx.get("identity") or {}).get("sourceIp")
        if ip:
            return str(ip)
    client = request.client
    return client.host if client else "unknown"


_IN_LAMBDA = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
