"""An answer as the OpenAI-compatible HTTP response: JSON, or SSE for a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response, StreamingResponse

from router.dispatch import Answer, BufferedAnswer


class GuardedStreamingResponse(StreamingResponse):
    """A streaming response whose cleanup runs even if its body is never iterated.

    Starlette, under a server that speaks ASGI 2.3 (uvicorn), streams from an anyio task
    group so that it can hear the client hang up: about 60 µs per stream on this hardware,
    and the head waits a loop turn for the new task. Here the stream is sent from the
    request's own task and a plain task listens for the disconnect, cancelling the stream
    when it comes; the relay then ends as abandoned, as before.
    """

    def __init__(self, content: Any, *, on_abandon: Callable[[], Awaitable[None]], **kw: Any):
        super().__init__(content, **kw)
        self._on_abandon = on_abandon

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        hung_up = False

        async def listen() -> None:
            nonlocal hung_up
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            except Exception:
                # Nothing more can be heard from this connection; the sends will tell.
                return
            hung_up = True
            streaming.cancel()

        listener = asyncio.get_running_loop().create_task(listen())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not hung_up:
                raise
            # The cancel was ours: the client left, which is not a failure of the app.
            streaming.uncancel()
        finally:
            listener.cancel()
            # A client that hangs up leaves the body generator suspended at a `yield`;
            # closing it now runs its cleanup instead of waiting for garbage collection.
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                await asyncio.shield(closer())
            await asyncio.shield(self._on_abandon())


def render(answer: Answer) -> Response:
    headers = answer.route.headers()
    if isinstance(answer, BufferedAnswer):
        return Response(
            answer.body, status_code=answer.status, media_type="application/json", headers=headers
        )
    headers["Cache-Control"] = "no-cache"
    headers["X-Accel-Buffering"] = "no"
    return GuardedStreamingResponse(
        answer.events,
        on_abandon=answer.on_abandon,
        media_type="text/event-stream",
        headers=headers,
    )
