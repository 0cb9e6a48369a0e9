"""How long a provider's 429 asks us to stay away: Retry-After, else `x-ratelimit-reset-*`."""

from __future__ import annotations

import time
from collections.abc import Mapping

from routing.retry import parse_retry_after


def ratelimit_reset(headers: Mapping[str, str]) -> float | None:
    """The soonest `*ratelimit*reset*` header given as a duration (`1s`, `6m0s`, `20ms`)."""
    resets = []
    for name, value in headers.items():
        lowered = name.lower()
        if "ratelimit" in lowered and "reset" in lowered:
            seconds = parse_duration(value)
            if seconds is not None:
                resets.append(seconds)
    return min(resets) if resets else None


def header_retry_after(headers: Mapping[str, str]) -> float | None:
    found = parse_retry_after(headers.get("Retry-After"), time.time())
    return found if found is not None else ratelimit_reset(headers)


def parse_duration(value: str) -> float | None:
    """`12`, `1.5s`, `250ms`, `6m0s`, `1h2m3s` -> seconds; None for anything else (dates)."""
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
        elif text.startswith("ms", i) and number:
            total += float(number) / 1000
            number = ""
            i += 1
        elif ch in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
        else:
            return None
        i += 1
    return total if not number and text else None
