"""Logging filter that masks API keys and bearer tokens wherever they appear in a record."""

from __future__ import annotations

import logging
import re

# Matches our own keys anywhere and any bearer credential (admin key, provider keys).
_PATTERNS = (
    re.compile(r"mf_[A-Za-z0-9]{4,16}_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[^\s'\",]+"),
)


def redact(text: str) -> str:
    """Replace every key or bearer token in `text` with a fixed mask."""
    text = _PATTERNS[0].sub("mf_***", text)
    return _PATTERNS[1].sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Rewrites the formatted message (and args) of each record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must still not leak its args
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach the filter to `logger` (root by default) and to every handler it already has.

    Handler-level filters are needed because logger filters do not run for records propagated
    from child loggers.
    """
    target = logger or logging.getLogger()
    flt = RedactingFilter()
    target.addFilter(flt)
    for handler in target.handlers:
        handler.addFilter(flt)
    return flt
