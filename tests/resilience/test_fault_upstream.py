"""The fault-injecting upstream does what each mode says, seen through a real aiohttp client."""

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream

CHAT = {"model": "demo", "messages": [{"role": "user", "content": "say hi"}]}
STREAM = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
SHORT = aiohttp.ClientTimeout(total=5, sock_connect=0.5, sock_read=0.5)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="demo", name="up-a")
    yield handle
    handle.stop()


@pytest.fixture
def up(upstream: FaultUpstreamHandle) -> FaultUpstreamHandle:
    upstream.reset()
    return upstream


def sse_data(raw: bytes) -> list[str]:
    return [
        line[6:] for line in raw.decode(errors="replace").split("\n") if line.startswith("data: ")
    ]


async def test_answers_like_openai(up: FaultUpstreamHandle) -> None:
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=CHAT) as r:
            body = await r.json()
            assert r.status == 200
            assert r.headers["x-upstream-instance"] == "up-a"
        async with s.post(up.url + "/v1/completions", json={"model": "demo", "prompt": "x"}) as r:
            text = await r.json()
        async with s.get(up.url + "/v1/models") as r:
            models = await r.json()
        async with s.get(up.url + "/health") as r:
            assert r.status == 200
        async with s.get(up.url + "/ping") as r:
            assert r.status == 200
    assert body["object"] == "chat.completion"
    assert "up-a" in body["choices"][0]["message"]["content"]
    assert body["usage"]["total_tokens"] > 0
    assert text["object"] == "text_completion" and text["choices"][0]["text"]
    assert models["data"][0]["id"] == "demo"
    stats = up.stats()
    assert stats["requests"]["/v1/chat/completions"] == 1
    assert stats["requests"]["/health"] == 1


async def test_streams_chunks_usage_and_done(up: FaultUpstreamHandle) -> None:
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=STREAM) as r:
            assert r.headers["Content-Type"].startswith("text/event-stream")
            data = sse_data(await r.read())
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert "up-a" in text


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_http_errors_then_recovery_after_count(up: FaultUpstreamHandle, status: int) -> None:
    up.set_fault(f"http_{status}", count=2)
    seen = []
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        for _ in range(3):
            async with s.post(up.url + "/v1/chat/completions", json=CHAT) as r:
                seen.append(r.status)
                body = await r.json()
    assert seen == [status, status, 200]
    assert "choices" in body
    assert up.stats()["faulted"] == 2


async def test_429_carries_retry_after(up: FaultUpstreamHandle) -> None:
    up.set_fault("http_429", retry_after="7")
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=CHAT) as r:
            assert r.status == 429
            assert r.headers["Retry-After"] == "7"
            assert (await r.json())["error"]["type"] == "rate_limit_error"


async def test_health_fails_with_the_instance(up: FaultUpstreamHandle) -> None:
    up.set_fault("http_503")
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.get(up.url + "/health") as r:
            assert r.status == 503


async def test_refuse_then_accept_again(up: FaultUpstreamHandle) -> None:
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.get(up.url + "/health") as r:  # leaves a keep-alive connection behind
            assert r.status == 200
        up.set_fault("refuse")
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            async with s.get(up.url + "/health"):
                pass
        assert isinstance(info.value.os_error, ConnectionRefusedError)
        up.set_fault("none")
        async with s.get(up.url + "/health") as r:
            assert r.status == 200


async def test_connect_timeout_hangs_the_handshake(up: FaultUpstreamHandle) -> None:
    up.set_fault("connect_timeout")
    timeout = aiohttp.ClientTimeout(total=5, sock_connect=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        with pytest.raises(aiohttp.ConnectionTimeoutError):
            async with s.get(up.url + "/health"):
                pass
    up.set_fault("none")
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.get(up.url + "/health") as r:
            assert r.status == 200


async def test_first_byte_timeout_sends_no_headers(up: FaultUpstreamHandle) -> None:
    up.set_fault("first_byte_timeout", count=1)
    timeout = aiohttp.ClientTimeout(total=5, sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        with pytest.raises(aiohttp.SocketTimeoutError):
            async with s.post(up.url + "/v1/chat/completions", json=CHAT):
                pass


async def test_stall_stream_sends_chunks_then_nothing(up: FaultUpstreamHandle) -> None:
    up.set_fault("stall_stream", chunks=2)
    timeout = aiohttp.ClientTimeout(total=5, sock_read=0.3)
    received: list[bytes] = []
    async with aiohttp.ClientSession(timeout=timeout) as s:
        async with s.post(up.url + "/v1/chat/completions", json=STREAM) as r:
            assert r.status == 200
            with pytest.raises(aiohttp.SocketTimeoutError):
                async for line in r.content:
                    received.append(line)
    data = sse_data(b"".join(received))
    assert len(data) == 2 and "[DONE]" not in data


async def test_drop_mid_stream_cuts_the_connection(up: FaultUpstreamHandle) -> None:
    up.set_fault("drop_mid_stream", chunks=3)
    received: list[bytes] = []
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=STREAM) as r:
            assert r.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in r.content:
                    received.append(line)
    data = sse_data(b"".join(received))
    assert len(data) == 3 and "[DONE]" not in data


async def test_drop_mid_body_for_non_streamed_requests(up: FaultUpstreamHandle) -> None:
    up.set_fault("drop_mid_stream")
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=CHAT) as r:
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()


async def test_malformed_sse_has_lines_that_do_not_parse(up: FaultUpstreamHandle) -> None:
    up.set_fault("malformed_sse", chunks=1)
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=STREAM) as r:
            assert r.status == 200
            raw = await r.read()
    bad = []
    for item in sse_data(raw):
        if item == "[DONE]":
            continue
        try:
            json.loads(item)
        except ValueError:
            bad.append(item)
    assert bad
    assert b"event without a data line" in raw


async def test_error_event_inside_a_200_stream(up: FaultUpstreamHandle) -> None:
    up.set_fault("error_in_stream", chunks=2)
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=STREAM) as r:
            assert r.status == 200
            data = sse_data(await r.read())
    assert len(data) == 3
    assert json.loads(data[-1])["error"]["type"] == "server_error"
    assert "[DONE]" not in data


async def test_slow_mode_delays_the_answer(up: FaultUpstreamHandle) -> None:
    up.set_fault("slow", latency_ms=400)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.05)) as s:
        with pytest.raises(asyncio.TimeoutError):
            async with s.post(up.url + "/v1/chat/completions", json=CHAT):
                pass
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/v1/chat/completions", json=CHAT) as r:
            assert r.status == 200


async def test_control_api_over_http_survives_refuse(up: FaultUpstreamHandle) -> None:
    async with aiohttp.ClientSession(timeout=SHORT) as s:
        async with s.post(up.url + "/__fault", json={"mode": "nonsense"}) as r:
            assert r.status == 400
        async with s.post(up.control_url + "/__fault", json={"mode": "refuse"}) as r:
            assert r.status == 200
        for _ in range(100):  # the switch happens just after the answer
            try:
                async with s.get(up.url + "/health"):
                    pass
            except aiohttp.ClientConnectorError:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("data port kept accepting after refuse")
        async with s.post(up.control_url + "/__reset") as r:
            assert r.status == 200
        for _ in range(100):
            try:
                async with s.get(up.url + "/health") as r:
                    assert r.status == 200
                    break
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.02)
        else:
            pytest.fail("data port did not come back after reset")
        async with s.get(up.control_url + "/__stats") as r:
            stats = await r.json()
    assert stats["mode"] == "none"


def test_runs_as_a_process_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fault_upstream", "--port", "0", "--model", "solo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]

        async def ask() -> dict:
            async with aiohttp.ClientSession(timeout=SHORT) as s:
                async with s.get(url + "/v1/models") as r:
                    return await r.json()

        assert asyncio.run(ask())["data"][0]["id"] == "solo"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
