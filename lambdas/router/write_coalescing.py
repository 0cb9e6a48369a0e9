"""One socket write per response: uvicorn writes a response's head and its body separately.

Each `transport.write` on an idle socket is a `send` system call and, on loopback, a segment
the client wakes up for: at c=1 a buffered answer cost the router two sends and the client two
wake-ups. This transport holds the first write and sends it together with the next one (the
body, or a stream's first event) in one call. Whatever is still held when the request's task
yields is sent by a callback at the loop's next turn, so nothing waits longer than that: a
stream's head goes out as soon as the relay waits for its first event, and a held chunk as
soon as the relay waits for the next one.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CoalescingTransport:
    """Wraps a transport; everything but writing and closing passes through."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_pending = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            if not self._flush_pending:
                self._flush_pending = True
                self._loop.call_soon(self._flush_later)
            return
        self._held = None
        self._transport.writelines((held, data))

    def writelines(self, chunks: Any) -> None:
        self.flush()
        self._transport.writelines(chunks)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def _flush_later(self) -> None:
        self._flush_pending = False
        if not self._transport.is_closing():
            self.flush()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
