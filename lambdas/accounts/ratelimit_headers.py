"""OpenAI's `x-ratelimit-*` headers from the caller's own rate-limit buckets.

`limit` is the bucket's per-minute allowance, `remaining` what is left after this request
was counted, `reset` how long until the bucket is empty again (the leaky bucket drains
continuously). Only the caller's own buckets (its key, else its user or client IP) are
described; the tier-wide bucket is shared by everyone and would tell the caller nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from accounts.ratelimit import Bucket

_KINDS = {":r": "requests", ":t": "tokens"}


def _duration(ms: float) -> str:
    """OpenAI's spelling of a wait: `20ms`, `1s`, `6m0s`."""
    if ms < 1000:
        return f"{max(0, math.ceil(ms))}ms"
    minutes, seconds = divmod(math.ceil(ms / 1000), 60)
    return f"{minutes}m{seconds}s" if minutes else f"{seconds}s"


def _own(buckets: Sequence[Bucket]) -> list[int]:
    keyed = [i for i, b in enumerate(buckets) if b.key.startswith("mf:rl:key:")]
    return keyed or [i for i, b in enumerate(buckets) if b.key.startswith("mf:rl:sub:")]


def ratelimit_headers(buckets: Sequence[Bucket], levels: Sequence[float]) -> dict[str, str]:
    if len(levels) != len(buckets):
        return {}
    headers: dict[str, str] = {}
    own = _own(buckets)
    for suffix, kind in _KINDS.items():
        mine = [i for i in own if buckets[i].key.endswith(suffix)]
        if not mine:
            continue
        tightest = min(mine, key=lambda i: buckets[i].limit - levels[i])
        bucket, level = buckets[tightest], levels[tightest]
        headers[f"x-ratelimit-limit-{kind}"] = str(bucket.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(bucket.limit - level)))
        headers[f"x-ratelimit-reset-{kind}"] = _duration(level * bucket.period_ms / bucket.limit)
    return headers
