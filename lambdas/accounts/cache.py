"""Exact-match response cache in Redis, scoped per tenant.

Only deterministic requests are cached: `temperature` 0 or a `seed` set. Streams are cached
only when the request says `"cache": true` (a MotherFluxer extension field); `"cache": false`
turns caching off for any request. The key is a SHA-256 of the tenant plus the normalized
fields that change the output, so one tenant never reads another's answers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

# Request fields that change what a model returns. Anything else (user, metadata, stream
# options, our own routing hints) does not split the cache.
OUTPUT_FIELDS = (
    "model",
    "messages",
    "prompt",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "stop",
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "response_format",
    "stream",
)

CacheStatus = Literal["hit", "miss", "bypass"]


@dataclass(frozen=True, slots=True)
class CachedResponse:
    body: str
    headers: dict[str, str]


def is_cacheable(request: dict[str, Any]) -> bool:
    flag = request.get("cache")
    if flag is False:
        return False
    deterministic = request.get("temperature") == 0 or request.get("seed") is not None
    if not deterministic:
        return False
    return not (request.get("stream") and flag is not True)


def _normalize(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cache_key(tenant: str, request: dict[str, Any]) -> str | None:
    """The Redis key for this request, or None when it must not be cached."""
    if not is_cacheable(request):
        return None
    fields = {k: _normalize(request[k]) for k in OUTPUT_FIELDS if request.get(k) is not None}
    digest = hashlib.sha256(
        json.dumps([tenant, fields], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return f"mf:cache:{tenant}:{digest}"


class ResponseCache:
    def __init__(self, redis: Redis, ttl_s: int = 300) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def get(self, key: str | None) -> CachedResponse | None:
        if key is None:
            return None
        raw = await self.redis.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        return CachedResponse(body=data["body"], headers=data["headers"])

    async def put(self, key: str | None, body: str, headers: dict[str, str]) -> None:
        if key is None:
            return
        # Route headers are kept so a hit still says which model originally answered.
        route_headers = {
            k: v for k, v in headers.items() if k.lower().startswith("x-motherfluxer-")
        }
        await self.redis.set(
            key, json.dumps({"body": body, "headers": route_headers}), ex=self.ttl_s
        )
