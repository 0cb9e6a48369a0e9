"""A response's head and body leave in one socket write; nothing held waits past the loop's
next turn; closing sends what is held first."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from router.server_limits import ServerLimits
from router.write_coalescing import CoalescingTransport
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router


@pytest.fixture(scope="module")
def served(moto_endpoint: str) -> Iterator[RouterHarness]:
    """The router behind the protocol `router.main` serves with (limits and coalescing)."""
    upstream: FaultUpstreamHandle = start_fault_upstream(model="alpha", name="alpha-one")
    harness = start_router(
        moto_endpoint,
        catalog_doc(model_doc("alpha")),
        uvicorn_options=ServerLimits().uvicorn_options(),
    )
    harness.add_instance("alpha", upstream.url, instance_id=upstream.name)
    yield harness
    harness.stop()
    upstream.stop()


class Recording:
    def __init__(self) -> None:
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.sends.append(bytes(data))

    def writelines(self, chunks) -> None:
        self.sends.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default


def test_head_and_body_are_one_send_and_a_lone_write_goes_at_the_next_turn() -> None:
    async def scenario() -> list[list[bytes]]:
        rec = Recording()
        t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.write(b"{}")
        after_pair = list(rec.sends)
        t.write(b"data: 1\n\n")
        held = list(rec.sends)
        await asyncio.sleep(0)
        return [after_pair, held, list(rec.sends)]

    after_pair, held, later = asyncio.run(scenario())
    assert after_pair == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    assert held == after_pair
    assert later == [*after_pair, b"data: 1\n\n"]


def test_close_sends_what_is_held_first_and_the_rest_passes_through() -> None:
    async def scenario() -> Recording:
        rec = Recording()
        t = CoalescingTransport(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)
        t.write(b"bye")
        t.close()
        assert t.is_closing()
        await asyncio.sleep(0)
        return rec

    rec = asyncio.run(scenario())
    assert rec.sends == [b"bye"] and rec.closed


def test_answers_on_one_connection_arrive_whole_and_streams_still_flow(
    served: RouterHarness,
) -> None:
    body = b'{"model":"alpha","messages":[{"role":"user","content":"hi"}],"max_tokens":3}'
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for _ in range(5):
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            )
            first = sock.recv(65536)
            head, _, rest = first.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(rest) < length:
                rest += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")
            assert len(rest) == length and rest.startswith(b"{")
    with served.client() as c:
        with c.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "alpha",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
            },
        ) as resp:
            assert resp.status_code == 200
            lines = [line for line in resp.iter_lines() if line]
    assert lines[0].startswith("data: {") and lines[-1] == "data: [DONE]"
