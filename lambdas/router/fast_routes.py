"""The hot routes, called straight from the ASGI stack instead of through FastAPI's router.

A profile of the full stack under load put about 7 % of the router's CPU in the layers between
uvicorn and the endpoint: matching the path against every route of every included router, the
per-request exit stack and exception wrappers. The inference endpoints need none of it (they
take the bare `Request` and parse their own body), so `RouterApp` sends their exact method and
path through our own middleware (body limit, NUL guard, CORS when configured) straight to
`FastRoutes`, and everything else through the whole stack. On the fast path FastAPI's outer
layers (server-error, exception telemetry, its body limit) are skipped too: each wraps `send`
once more, and at c=1 every wrapper is on the client's clock.

Errors are answered by the app's own exception handlers, looked up the way Starlette does (by
the exception's class hierarchy, `Exception` last), so a refusal or a crash reads the same on
either path.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

Endpoint = Callable[[Request], Awaitable[Response]]
Route = tuple[str, str]


class FastRoutes:
    """The innermost app of the fast path (`_Split` sends it only its own method and path):
    the endpoint, called directly."""

    def __init__(self, routes: Mapping[Route, Endpoint]) -> None:
        self.routes = dict(routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint = self.routes[(scope["method"], scope["path"])]
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)


def _handler_for(handlers: Mapping[Any, Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


class RouterApp(FastAPI):
    """FastAPI with the inference routes split off before its outer layers (see above)."""

    fast_routes: dict[Route, Endpoint]

    def build_middleware_stack(self) -> Any:
        full = super().build_middleware_stack()
        fast: Any = FastRoutes(self.fast_routes)
        for cls, args, kwargs in reversed(self.user_middleware):
            fast = cls(fast, *args, **kwargs)
        return _Split(full, fast, frozenset(self.fast_routes))


class _Split:
    def __init__(self, full: Any, fast: Any, routes: frozenset[Route]) -> None:
        self.full = full
        self.fast = fast
        self.routes = routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in self.routes:
            await self.fast(scope, receive, send)
        else:
            await self.full(scope, receive, send)
