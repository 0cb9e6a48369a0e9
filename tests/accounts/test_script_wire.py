"""The hot path's scripts on their own connections: right replies in order, a lost script cache
recovered, and a call cut off by its timeout never leaving a stale reply for the next one."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from accounts.script_wire import WireScript, pack

pytestmark = pytest.mark.asyncio(loop_scope="session")

ECHO = "redis.call('INCR', KEYS[1]) return {KEYS[1], ARGV[1], redis.call('GET', KEYS[1])}"
FAILS = "return redis.error_reply('ERR nope ' .. ARGV[1])"


async def test_pack_is_resp_arrays_of_bulk_strings() -> None:
    assert pack([b"GET", b"k\xc3\xa9"]) == b"*2\r\n$3\r\nGET\r\n$3\r\nk\xc3\xa9\r\n"
    assert pack([]) == b"*0\r\n"


async def test_a_batch_answers_in_order_and_survives_a_flushed_script_cache(redis) -> None:
    script = WireScript(redis, ECHO)
    try:
        await redis.delete("wire:a", "wire:b")
        calls = [(["wire:a"], ["x"]), (["wire:b"], ["é"]), (["wire:a"], ["z"])]
        assert await script.call_many(calls) == [
            [b"wire:a", b"x", b"1"],
            [b"wire:b", "é".encode(), b"1"],
            [b"wire:a", b"z", b"2"],
        ]
        # A restarted or failed-over server has no scripts: loaded again, nothing run twice.
        await redis.script_flush()
        assert await script(["wire:a"], ["again"]) == [b"wire:a", b"again", b"3"]
        assert await redis.get("wire:a") == b"3"
    finally:
        await script.aclose()


async def test_a_script_error_is_raised_and_the_connection_stays_usable(redis) -> None:
    fails, echo = WireScript(redis, FAILS), WireScript(redis, ECHO)
    try:
        with pytest.raises(ResponseError, match="nope 1"):
            await fails([], ["1"])
        replies = await fails.call_many([([], ["2"]), ([], ["3"])])
        assert [str(r) for r in replies] == ["nope 2", "nope 3"]
        await redis.delete("wire:c")
        assert await echo(["wire:c"], ["ok"]) == [b"wire:c", b"ok", b"1"]
    finally:
        await fails.aclose()
        await echo.aclose()


async def test_a_call_cut_off_by_its_timeout_leaves_no_stale_reply(redis_server) -> None:
    client = Redis.from_url(redis_server.url, socket_timeout=0.2)
    other = Redis.from_url(redis_server.url)
    script = WireScript(client, ECHO)
    try:
        await client.delete("wire:d")
        assert await script(["wire:d"], ["warm"]) == [b"wire:d", b"warm", b"1"]
        await other.execute_command("CLIENT", "PAUSE", "600", "ALL")
        with pytest.raises(asyncio.TimeoutError):
            await script(["wire:d"], ["late"])
        await asyncio.sleep(0.7)
        # The late call's reply died with its connection; this one gets its own.
        reply = await script(["wire:d"], ["next"])
        assert reply[:2] == [b"wire:d", b"next"]
    finally:
        await script.aclose()
        await client.aclose()
        await other.aclose()
