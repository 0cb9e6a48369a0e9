"""Reading an upstream server-sent-event stream one event at a time (any line ending)."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

MAX_EVENT_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class SSEEvent:
    event: str
    data: bytes


class EventTooLarge(ValueError):
    pass


async def read_event(content: aiohttp.StreamReader) -> SSEEvent | None:
    """The next event; None at a clean end of stream. A partial event at EOF is an error."""
    event = ""
    data: list[bytes] = []
    size = 0
    seen = False
    while True:
        line = await content.readline()
        if not line:
            if seen:
                raise ConnectionResetError("stream ended inside an event")
            return None
        size += len(line)
        if size > MAX_EVENT_BYTES:
            raise EventTooLarge("SSE event too large")
        line = line.rstrip(b"\r\n")
        if not line:
            if seen:
                return SSEEvent(event, b"\n".join(data))
            continue
        if line.startswith(b":"):
            continue
        seen = True
        field, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if field == b"event":
            event = value.decode("utf-8", "replace")
        elif field == b"data":
            data.append(value)
