"""Stop sequences applied to a stream of text pieces, independent of the backend."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class StopScanner:
    """Holds back just enough text that a stop sequence split across pieces is still caught.

    `feed` returns the text that is safe to emit; once a stop sequence is seen, `stopped` is
    true and everything from the stop sequence on is dropped.
    """

    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        if not self.stops:
            return text
        self._buffer += text
        cut = min((i for i in (self._buffer.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self._buffer = self._buffer[:cut], ""
            return out
        safe = len(self._buffer) - self._hold
        if safe <= 0:
            return ""
        out, self._buffer = self._buffer[:safe], self._buffer[safe:]
        return out

    def flush(self) -> str:
        out, self._buffer = ("" if self.stopped else self._buffer), ""
        return out


def split_on_stops(pieces: Iterable[str], stops: Iterable[str]) -> Iterator[str]:
    """Convenience for tests and simple backends: the pieces, cut at the first stop sequence."""
    scanner = StopScanner(stops)
    for piece in pieces:
        out = scanner.feed(piece)
        if out:
            yield out
        if scanner.stopped:
            return
    rest = scanner.flush()
    if rest:
        yield rest
