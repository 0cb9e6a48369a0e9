"""The stream relay runs the pipeline's generator to its end and reports what it could not do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from starlette.responses import StreamingResponse

from router.api.ingress_dispatch import translate_stream
from router.ingress.responses_api import ResponsesRequest
from router.ingress.responses_output import response_shell
from router.ingress.responses_stream import ResponsesStream


def _chat_events(finished: list[bool]) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        try:
            for delta in ({"content": "Hi"}, {}):
                chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            yield b"data: [DONE]\n\n"
        finally:
            finished.append(True)

    return gen()


def _collect(response: StreamingResponse) -> list[dict]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in response.body_iterator]  # type: ignore[misc]

    out = []
    for event in asyncio.run(run()):
        data = event.decode().split("\n")[1]
        out.append(orjson.loads(data.removeprefix("data: ")))
    return out


def _stream() -> ResponsesStream:
    return ResponsesStream(response_shell(ResponsesRequest(model="m", input="x"), "resp_1", "m"))


def test_a_failed_store_turns_completed_into_failed() -> None:
    finished: list[bool] = []

    async def broken_store() -> None:
        raise RuntimeError("database down")

    relayed = translate_stream(
        StreamingResponse(_chat_events(finished)), _stream(), after_close=broken_store
    )
    kinds = [e["type"] for e in _collect(relayed)]
    assert kinds[-2:] == ["error", "response.failed"] and "response.completed" not in kinds
    assert finished == [True]


def test_the_pipeline_generator_is_run_to_its_end() -> None:
    finished: list[bool] = []
    kept: list[bool] = []

    async def store() -> None:
        kept.append(True)

    relayed = translate_stream(StreamingResponse(_chat_events(finished)), _stream(), store)
    assert _collect(relayed)[-1]["type"] == "response.completed"
    assert finished == [True] and kept == [True]
