"""Requests for a model that is asleep: scaled to zero, so no instance is registered at all.

Such a request is the wake signal: the router counts `WakeRequests` for the model (the ECS
step policy in infra/ecs_models.py adds a task on it), then answers from the request's
fallback (hybrid mode, or the model's configured `fallback`), or refuses with 503 and a
`Retry-After` of the model's wake time, since a client retrying sooner only finds it asleep.

Which models may sleep comes from the routing config next to the catalog:
`"scale_to_zero": {"<model>": {"wake_seconds": 420}}` (infra writes it from the stage config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.errors import ServiceUnavailable
from routing.catalog import Catalog
from routing.request_view import RequestView
from routing.selection import resolve_mode
from routing.snapshot import SnapshotIndex

# A GPU host boot plus a model load, when the config names a sleeping model but no wake time.
DEFAULT_WAKE_SECONDS = 300
WAKE_REASON_HEADER = "x-motherfluxer-route-reason"


@dataclass(frozen=True, slots=True)
class SleepingModel:
    model: str
    wake_seconds: int


_parsed: tuple[Mapping[str, Any] | None, dict[str, int]] = (None, {})


def wake_times(routing_config: Mapping[str, Any]) -> dict[str, int]:
    """Model id -> seconds it takes to wake, for every model allowed to scale to zero."""
    global _parsed
    # Read on every request, parsed once per configuration object.
    if _parsed[0] is not routing_config:
        _parsed = (routing_config, _wake_times(routing_config))
    return _parsed[1]


def _wake_times(routing_config: Mapping[str, Any]) -> dict[str, int]:
    section = routing_config.get("scale_to_zero") or {}
    if isinstance(section, list):
        return {str(m): DEFAULT_WAKE_SECONDS for m in section}
    times: dict[str, int] = {}
    for model, spec in dict(section).items():
        seconds = (spec or {}).get("wake_seconds", DEFAULT_WAKE_SECONDS)
        times[str(model)] = max(1, int(seconds))
    return times


def named_models(view: RequestView) -> list[str]:
    """The models a request asks for by name: auto selection never wakes a model."""
    mode = resolve_mode(view)
    if mode == "manual":
        return [str(view.model)]
    if mode == "list":
        return [str(m) for m in dict.fromkeys(view.model or [])]
    if mode == "hybrid":
        return [str(view.preferred_model)]
    return []


def asleep(
    view: RequestView, index: SnapshotIndex, times: Mapping[str, int]
) -> list[SleepingModel]:
    """The requested models that may sleep and have no routable instance right now."""
    return [
        SleepingModel(m, times[m])
        for m in named_models(view)
        if m in times and not index.is_served(m)
    ]


def count_wakes(metrics: Any, sleeping: list[SleepingModel]) -> None:
    if metrics is None:
        return
    for s in sleeping:
        # A literal name: tests/infra/test_metric_contract.py finds call sites by it.
        metrics.count("WakeRequests", model=s.model)


def fallback_view(
    view: RequestView, sleeping: SleepingModel, catalog: Catalog
) -> RequestView | None:
    """A manual request re-aimed at the sleeping model's configured fallback, if it has one."""
    if resolve_mode(view) != "manual":
        return None  # hybrid and list requests carry their own fallbacks; the plan used them
    spec = catalog.get(sleeping.model)
    if spec is None or not spec.fallback:
        return None
    return view.model_copy(update={"model": spec.fallback})


def waking_error(sleeping: list[SleepingModel]) -> ServiceUnavailable:
    """503 with Retry-After of the longest wake among the requested models."""
    wait = max(s.wake_seconds for s in sleeping)
    names = ", ".join(repr(s.model) for s in sleeping)
    return ServiceUnavailable(
        f"model {names} is asleep and waking up; retry in about {wait} s",
        code="model_waking",
        retry_after=wait,
        headers={WAKE_REASON_HEADER: f"wake: {names} asleep, ~{wait}s to wake, no fallback"},
    )


def fallback_reason(sleeping: SleepingModel, reason: str) -> str:
    return f"wake: {sleeping.model} asleep (~{sleeping.wake_seconds}s) -> fallback; {reason}"
