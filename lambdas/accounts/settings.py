"""Tunable knobs of the accounts layer (one object, built by the router from its settings)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from accounts.tiers import DEFAULT_LIMITS, Tier, TierLimits


class AccountsSettings(BaseModel):
    limits: dict[Tier, TierLimits] = Field(default_factory=lambda: dict(DEFAULT_LIMITS))
    key_cache_ttl_s: float = Field(default=30.0, gt=0, le=30)
    key_cache_negative_ttl_s: float = Field(default=2.0, ge=0, le=30)
    reservation_ttl_s: float = Field(default=600.0, gt=0)
    demo_max_in_flight: int = Field(default=16, gt=0)
    registered_max_in_flight: int = Field(default=64, gt=0)
    shed_retry_after_s: int = Field(default=1, gt=0)
    # Retry-After given to demo callers while the shared limiter (Redis) is unreachable.
    limiter_down_retry_after_s: int = Field(default=5, gt=0)
    cache_ttl_s: int = Field(default=300, gt=0)
    # After a Redis error, go straight to the fallback for this long before trying Redis again.
    redis_backoff_s: float = Field(default=2.0, ge=0)
    # Tokens a model's chat template adds once per request (a default system prompt, BOS),
    # where it is more than `token_bound.REQUEST_OVERHEAD_TOKENS`; keyed by model id.
    request_overhead_tokens: dict[str, int] = Field(default_factory=dict)

    @field_validator("limits", mode="after")
    @classmethod
    def _every_tier_has_limits(cls, value: dict[Tier, TierLimits]) -> dict[Tier, TierLimits]:
        # A config naming only some tiers keeps the defaults of the others (a missing tier
        # would otherwise fail every request of that tier).
        return {**DEFAULT_LIMITS, **value}
