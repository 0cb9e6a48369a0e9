"""Intents: what an admitted request will be charged if its router dies before recording it.

The admission script stores one intent per request (`accounts.admission_script`); the settle
script drops it once the usage record is spooled. An intent that outlives its expiry therefore
belongs to a router that died in between. `OrphanSweep` leases expired intents, writes each
as a ledger row (status 500, charged at the reservation, so never below the real cost), moves
its reservation into the budget's spend, and only then deletes it: a sweep that dies halfway
leaves the intent for the next one, and the ledger's unique request id absorbs a repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from accounts.admission_script import INTENT_EXPIRY, INTENTS
from accounts.budgets import RedisBudgets, Reservation
from accounts.pricing import to_nano
from accounts.redis_guard import REDIS_DOWN
from accounts.usage import UsageRecord, UsageSink

log = logging.getLogger(__name__)

UNSETTLED_REASON = "unsettled: the router stopped before recording it; charged at its reservation"

# Lease up to ARGV[2] intents expired at ARGV[1] (ms) for ARGV[3] ms; returns id, body pairs.
_LEASE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, rid in ipairs(ids) do
  local body = redis.call('HGET', KEYS[1], rid)
  if body then
    redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[3]), rid)
    out[#out + 1] = rid
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[2], rid)
  end
end
return out
"""


def intent_body(admission: Any, reserved_cost: Decimal) -> str:
    caller = admission.caller
    return orjson.dumps(
        {
            "rid": admission.request_id,
            "crid": admission.client_request_id,
            "tier": caller.tier,
            "user": caller.user_id,
            "key": caller.ledger_key_prefix,
            "model": admission.model.id,
            "in": admission.prompt_tokens,
            "out": admission.output_tokens,
            "cost": str(reserved_cost),
            "at": time.time(),
        }
    ).decode()


def orphan_record(body: dict[str, Any]) -> UsageRecord:
    return UsageRecord(
        request_id=body["rid"],
        client_request_id=body.get("crid"),
        tier=body.get("tier") or "registered",
        user_id=body.get("user"),
        key_prefix=body.get("key"),
        model=body["model"],
        tokens_in=int(body.get("in") or 0),
        tokens_out=int(body.get("out") or 0),
        cost_usd=Decimal(body.get("cost") or "0"),
        status=500,
        route_reason=UNSETTLED_REASON,
        created_at=datetime.fromtimestamp(float(body.get("at") or time.time()), UTC),
    )


class OrphanSweep:
    def __init__(self, redis: Any, sink: UsageSink, budgets: RedisBudgets, lease_s: float = 60):
        self.redis = redis
        self.sink = sink
        self.budgets = budgets
        self.lease_ms = int(lease_s * 1000)
        self._lease = redis.register_script(_LEASE)

    async def sweep_once(self, now_ms: int | None = None, limit: int = 200) -> int:
        """Write every expired intent to the ledger; returns how many."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        flat = await self._lease(keys=[INTENTS, INTENT_EXPIRY], args=[now_ms, limit, self.lease_ms])
        swept = 0
        for rid, raw in zip(flat[::2], flat[1::2], strict=True):
            body = orjson.loads(raw)
            record = orphan_record(body)
            await self.sink.put(record)
            if record.user_id and record.cost_usd:
                reservation = Reservation(record.user_id, record.request_id, 0)
                await self.budgets.settle(reservation, to_nano(record.cost_usd))
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(INTENTS, rid)
                pipe.zrem(INTENT_EXPIRY, rid)
                await pipe.execute()
            log.warning(
                "request %s was never recorded by its router; ledgered from its intent",
                record.request_id,
            )
            swept += 1
        return swept

    async def run(self, interval_s: float = 30.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.sweep_once()
            except REDIS_DOWN as exc:
                log.info("orphan sweep skipped (%s)", type(exc).__name__)
            except Exception:
                log.exception("orphan sweep failed")
