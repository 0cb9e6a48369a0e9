"""The hot path's Lua scripts on the wire: each call packed once, sent in one write, read back.

A profile of the full stack at c=1 had redis-py's generic command path at about 0.18 ms of
router CPU per admitted request: every one of the ~40 arguments encoded through the client's
type checks, a pool lock to borrow a connection, the retry wrapper, and a task per socket write
(`asyncio.wait_for` around each send when a socket timeout is set). These scripts always take
strings and always want the raw reply, so this sends them on connections of its own, built by
redis-py with the client's settings (address, auth, TLS, database), and bounds the whole call
with one `asyncio.timeout` instead.

A batch (`call_many`) is one write of every `EVALSHA` and one read of their replies: a
pipeline without the `SCRIPT EXISTS` round trip redis-py's pipelines add for scripts. A server
that has lost its script cache (restart, failover, `SCRIPT FLUSH`) answers NOSCRIPT; the script
is loaded and only the calls that got NOSCRIPT, which ran nothing, are sent again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

Call = tuple[Sequence[str], Sequence[str]]


def pack(parts: Sequence[bytes]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    return b"*%d\r\n" % len(parts) + b"".join([b"$%d\r\n%s\r\n" % (len(p), p) for p in parts])


class WireScript:
    """One Lua script, called by SHA on connections this object owns."""

    def __init__(self, redis: Redis, source: str, max_idle: int = 64) -> None:
        self.redis = redis
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest().encode()
        pool = redis.connection_pool
        kwargs = dict(pool.connection_kwargs)
        # The whole call is bounded below; the connection's own socket timeout would wrap
        # every write in a task of its own.
        self.timeout_s: float | None = kwargs.get("socket_timeout") or None
        kwargs["socket_timeout"] = None
        self._kwargs = kwargs
        self._connection_class = pool.connection_class
        self._idle: list[Any] = []
        self._max_idle = max_idle
        self._closed = False

    def _packed(self, keys: Sequence[str], args: Sequence[str]) -> bytes:
        return pack(
            [
                b"EVALSHA",
                self.sha,
                b"%d" % len(keys),
                *map(str.encode, keys),
                *map(str.encode, args),
            ]
        )

    async def __call__(self, keys: Sequence[str], args: Sequence[str]) -> Any:
        reply = (await self.call_many([(keys, args)]))[0]
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def call_many(self, calls: Sequence[Call]) -> list[Any]:
        """Every call's reply, in order; a script error is returned as its `ResponseError`."""
        replies = await self._round_trip([self._packed(k, a) for k, a in calls])
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            await self.redis.script_load(self.source)
            again = await self._round_trip([self._packed(*calls[i]) for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _round_trip(self, commands: list[bytes]) -> list[Any]:
        conn = self._idle.pop() if self._idle else self._connection_class(**self._kwargs)
        try:
            async with asyncio.timeout(self.timeout_s):
                await conn.send_packed_command(b"".join(commands), check_health=False)
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as err:
                        replies.append(err)
        except BaseException:
            # A call cut off mid-read leaves replies on the socket: the connection is done.
            await conn.disconnect(nowait=True)
            raise
        if self._closed or len(self._idle) >= self._max_idle:
            await conn.disconnect()
        else:
            self._idle.append(conn)
        return replies

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.disconnect()
