"""Optimisation goals: how much each factor of the score counts, per request or per key.

`routing: {"optimize": "quality" | "cost" | "latency"}` picks one of these profiles; without a
goal the balanced default applies (and `prefer_speed` means `latency`, as before). A profile is
the five weights of the score plus the references of its soft terms: the `cost` goal uses a much
smaller cost reference so that cheap models are told apart from very cheap ones, which the
balanced reference (one US cent per request) barely does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Goal = Literal["quality", "cost", "latency"]
GOALS: tuple[Goal, ...] = get_args(Goal)

# Each soft term is ref / (ref + x): 1 when x is 0, one half when x equals the reference.
SPEED_REF_SECONDS = 10.0
COST_REF_USD = 0.01


@dataclass(frozen=True, slots=True)
class Weights:
    spec: float = 0.40
    quality: float = 0.20
    speed: float = 0.15
    cost: float = 0.10
    load: float = 0.15


@dataclass(frozen=True, slots=True)
class GoalProfile:
    """The weights and soft-term references one goal scores with."""

    name: str
    weights: Weights
    speed_ref_seconds: float = SPEED_REF_SECONDS
    cost_ref_usd: float = COST_REF_USD


DEFAULT_WEIGHTS = Weights()
SPEED_WEIGHTS = Weights(spec=0.30, quality=0.10, speed=0.40, cost=0.05, load=0.15)

BALANCED = GoalProfile("balanced", DEFAULT_WEIGHTS)
PROFILES: dict[str, GoalProfile] = {
    # Quality first: the best model for the work, whatever it costs.
    "quality": GoalProfile(
        "quality", Weights(spec=0.35, quality=0.45, speed=0.05, cost=0.0, load=0.15)
    ),
    # Cost first, among models still fit for the task; 0.05 cents per request is the midpoint.
    "cost": GoalProfile(
        "cost",
        Weights(spec=0.30, quality=0.05, speed=0.05, cost=0.50, load=0.10),
        cost_ref_usd=0.0005,
    ),
    # The same profile `prefer_speed: true` has always used.
    "latency": GoalProfile("latency", SPEED_WEIGHTS),
}


def profile_for(goal: str | None, prefer_speed: bool = False) -> GoalProfile:
    """The profile for a goal name; None (or an unknown name) is the balanced default."""
    if goal is None:
        return PROFILES["latency"] if prefer_speed else BALANCED
    return PROFILES.get(goal, BALANCED)
