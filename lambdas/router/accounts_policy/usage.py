"""The one place a request becomes a usage-ledger record."""

from __future__ import annotations

from decimal import Decimal

from accounts.tiers import Caller
from accounts.usage import UsageRecord
from router.dispatch import Usage


def usage_record(
    caller: Caller,
    request_id: str,
    *,
    model: str,
    version: str | None,
    instance_id: str | None,
    usage: Usage | None,
    latency_ms: float,
    status: int,
    route_reason: str,
    cached: bool = False,
    task: str | None = None,
) -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        tier=caller.tier,
        user_id=caller.user_id,
        key_prefix=caller.key_prefix,
        model=model,
        version=version,
        instance_id=instance_id,
        tokens_in=usage.prompt_tokens if usage else 0,
        tokens_out=usage.completion_tokens if usage else 0,
        # A cache hit costs nothing; otherwise the service prices it from the price table.
        cost_usd=Decimal(0) if cached else None,
        latency_ms=round(latency_ms, 3),
        status=status,
        route_reason=route_reason[:500],
        task=task,
        cached=cached,
    )
