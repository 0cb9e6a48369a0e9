"""What the caller asks of the answer: speed, quality, cost and capabilities."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RequiredCapability = Literal["vision", "tools"]


class Requirements(BaseModel):
    """The caller's constraints (seed 003 `requirements`); every field is optional.

    `max_response_time`, `min_quality` and `max_cost` filter models out; if nothing survives the
    filters they are relaxed (and the reason says so) rather than failing a request that some
    model could still answer. `required_capabilities` is never relaxed.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_response_time: float | None = Field(default=None, gt=0, description="seconds")
    min_quality: float | None = Field(default=None, ge=0, le=1)
    prefer_speed: bool = False
    max_cost: float | None = Field(default=None, ge=0, description="USD per request")
    required_capabilities: frozenset[RequiredCapability] = frozenset()
