"""Tiers and the limits attached to each, plus the `Caller` the router carries per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from routing.catalog import ModelSpec

Tier = Literal["demo", "registered", "admin"]
TIERS: tuple[Tier, ...] = ("demo", "registered", "admin")


class TierLimits(BaseModel):
    """Per-minute limits. `None` means unlimited at that scope.

    Demo requests are limited per client IP (`per_subject_*`); registered and admin requests per
    key (`per_key_*`) and per user (`per_subject_*`). `tier_*` caps the whole tier together.
    """

    model_config = ConfigDict(frozen=True)

    per_key_rpm: int | None = Field(default=None, gt=0)
    per_key_tpm: int | None = Field(default=None, gt=0)
    per_subject_rpm: int | None = Field(default=None, gt=0)
    per_subject_tpm: int | None = Field(default=None, gt=0)
    tier_rpm: int | None = Field(default=None, gt=0)
    tier_tpm: int | None = Field(default=None, gt=0)
    # Hard cap on max_tokens for this tier; the router clamps the request to it.
    max_tokens: int | None = Field(default=None, gt=0)
    # Only models flagged `demo` in the catalog may be used when True.
    demo_models_only: bool = False


DEFAULT_LIMITS: dict[Tier, TierLimits] = {
    "demo": TierLimits(
        per_subject_rpm=10,
        per_subject_tpm=2_000,
        tier_rpm=600,
        max_tokens=64,
        demo_models_only=True,
    ),
    "registered": TierLimits(
        per_key_rpm=600,
        per_key_tpm=200_000,
        per_subject_rpm=1_200,
        per_subject_tpm=400_000,
    ),
    "admin": TierLimits(),
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling. `client_ip` is only kept for demo callers (their rate-limit subject)."""

    tier: Tier
    limits: TierLimits
    user_id: str | None = None
    key_prefix: str | None = None
    client_ip: str | None = None
    scopes: tuple[str, ...] = ()
    # The key's default `routing.optimize` goal (None: balanced unless the request says).
    optimize: str | None = None

    @property
    def tenant(self) -> str:
        """Cache and report scope: the user id, or "demo" for anonymous callers."""
        return self.user_id or "demo"

    @property
    def ledger_key_prefix(self) -> str | None:
        """The key the ledger names: none for the operator's admin key."""
        return self.key_prefix if self.key_prefix != "admin" else None

    @property
    def subject(self) -> str:
        """The per-subject rate-limit identity: user id, or the client IP for demo."""
        return self.user_id or f"ip:{self.client_ip or 'unknown'}"

    def may_use(self, model: ModelSpec) -> bool:
        """The demo rule, in one place: without a key only the catalog's demo models."""
        return model.demo or not self.limits.demo_models_only

    def clamp_max_tokens(self, requested: int | None, model_max: int) -> int:
        """The max_tokens the router must send upstream for this caller."""
        value = min(requested or model_max, model_max)
        if self.limits.max_tokens is not None:
            value = min(value, self.limits.max_tokens)
        return max(value, 1)
