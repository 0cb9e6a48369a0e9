"""The x-ratelimit-* values from bucket levels (pure arithmetic, OpenAI's spelling)."""

from __future__ import annotations

from accounts.ratelimit import Bucket
from accounts.ratelimit_headers import ratelimit_headers


def test_the_callers_own_tightest_bucket_is_described() -> None:
    buckets = [
        Bucket("mf:rl:key:abc:r", 60, 1),
        Bucket("mf:rl:key:abc:t", 1000, 100),
        Bucket("mf:rl:sub:u1:r", 30, 1),
        Bucket("mf:rl:tier:registered:r", 5, 1),
    ]
    headers = ratelimit_headers(buckets, [30.0, 250.0, 29.0, 5.0])
    assert headers == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "30",
        "x-ratelimit-reset-requests": "30s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "750",
        "x-ratelimit-reset-tokens": "15s",
    }


def test_demo_callers_see_their_per_ip_bucket_and_short_waits_in_ms() -> None:
    buckets = [Bucket("mf:rl:sub:ip:1.2.3.4:r", 10, 1), Bucket("mf:rl:tier:demo:r", 600, 1)]
    headers = ratelimit_headers(buckets, [0.1, 3.0])
    assert headers["x-ratelimit-limit-requests"] == "10"
    assert headers["x-ratelimit-remaining-requests"] == "9"
    assert headers["x-ratelimit-reset-requests"] == "600ms"
    assert ratelimit_headers(buckets, []) == {}


def test_long_waits_read_in_minutes() -> None:
    headers = ratelimit_headers([Bucket("mf:rl:key:k:r", 1, 1, period_ms=600_000)], [1.0])
    assert headers["x-ratelimit-reset-requests"] == "10m0s"
