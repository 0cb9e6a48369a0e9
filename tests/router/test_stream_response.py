"""The SSE response: sent from the request's task, cancelled when the client hangs up, and
cleaned up exactly once whichever way it ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.pipeline.render import GuardedStreamingResponse

SCOPE = {"type": "http", "asgi": {"spec_version": "2.3"}}


class Client:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def response(events: Any, ended: list[str]) -> GuardedStreamingResponse:
    async def on_abandon() -> None:
        ended.append("abandon")

    return GuardedStreamingResponse(events, on_abandon=on_abandon, media_type="text/event-stream")


async def test_a_whole_stream_is_sent_and_cleaned_up_once() -> None:
    client, ended = Client(), []

    async def events():
        try:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"
        finally:
            ended.append("generator")

    await response(events(), ended)(SCOPE, client.receive, client.send)
    bodies = [m.get("body") for m in client.sent if m["type"] == "http.response.body"]
    assert bodies == [b"data: 1\n\n", b"data: 2\n\n", b""]
    assert ended == ["generator", "abandon"]
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_a_hang_up_ends_a_waiting_stream_without_an_error() -> None:
    client, ended = Client(), []
    stuck = asyncio.Event()

    async def events():
        try:
            yield b"data: 1\n\n"
            await stuck.wait()  # the instance owes the rest and sends nothing
            yield b"data: never\n\n"
        finally:
            ended.append("generator")

    serving = asyncio.create_task(response(events(), ended)(SCOPE, client.receive, client.send))
    await asyncio.sleep(0.01)
    client.gone.set()
    await asyncio.wait_for(serving, 1)  # returns normally: the client left, the app did not fail
    assert not serving.cancelled()
    assert [m.get("body") for m in client.sent][1:] == [b"data: 1\n\n"]
    assert ended == ["generator", "abandon"]


async def test_a_cancel_from_outside_still_propagates() -> None:
    client, ended = Client(), []

    async def events():
        yield b"data: 1\n\n"
        await asyncio.Event().wait()

    serving = asyncio.create_task(response(events(), ended)(SCOPE, client.receive, client.send))
    await asyncio.sleep(0.01)
    serving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert ended == ["abandon"]
