"""Scoring: rank the models that can take a request, and say why in one short line.

A model is a candidate only if it has the capabilities the request needs (vision for images,
tools when asked), its context window holds the estimated prompt plus the requested output, and
it has at least one routable instance. The caller's `min_quality`, `max_response_time` and
`max_cost` filter candidates too, but are relaxed if they would leave none. Each survivor gets

    score = w_spec * specialization[task] + w_quality * quality + w_speed * speed
            + w_cost * cheapness + w_load * idleness

with every term in 0..1 (see `Weights`, and docs/routing.md for the reading of each term). The
weights and soft-term references come from the request's optimisation goal (`routing.goals`;
balanced when none), and a bounded history adjustment (`routing.history`) is added when a window
of outcomes is given. Without a goal or history the score is exactly the metadata one.
Ties break on model id, so equal inputs always rank equally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from routing.catalog import Catalog, ModelSpec, Task
from routing.goals import (
    COST_REF_USD,
    DEFAULT_WEIGHTS,
    SPEED_REF_SECONDS,
    SPEED_WEIGHTS,
    Weights,
    profile_for,
)
from routing.history import DEFAULT_HISTORY_POLICY, HistoryIndex, HistoryPolicy, history_adjustment
from routing.requirements import Requirements
from routing.snapshot import ModelHealth, SnapshotIndex

__all__ = [
    "COST_REF_USD",
    "DEFAULT_WEIGHTS",
    "SPEED_REF_SECONDS",
    "SPEED_WEIGHTS",
    "ScoredModel",
    "Weights",
    "describe",
    "score_models",
]

# Typical image cost in prompt tokens (a high-detail 512px tile plus its base) for context fit.
IMAGE_TOKENS = 765
_DEFAULT_OUTPUT_TOKENS = 256
# Each soft term is ref / (ref + x); the speed and cost references come with the goal.
LOAD_REF = 4.0


@dataclass(frozen=True, slots=True)
class ScoredModel:
    model: str
    score: float
    spec: float
    est_seconds: float
    est_cost: float
    healthy: int
    relaxed: bool = False
    history: float = 0.0  # what history added to (or took from) the score
    history_reason: str = ""
    goal: str = "balanced"


def estimate_tokens(text: str, images: int = 0) -> int:
    """Cheap prompt-size estimate: about four characters per token, plus a fixed cost per image."""
    return (len(text) + 3) // 4 + images * IMAGE_TOKENS


def estimate_seconds(spec: ModelSpec, health: ModelHealth, output_tokens: int) -> float:
    """Time to first byte plus generation at the measured (or configured) speed, with queueing."""
    tps = health.tokens_per_second or spec.tokens_per_second
    base = health.mean_latency_ms / 1000.0 + output_tokens / tps
    # Work already queued on each instance delays this request roughly in proportion.
    return base * (1.0 + 0.5 * health.mean_in_flight)


def estimate_cost(spec: ModelSpec, prompt_tokens: int, output_tokens: int, seconds: float) -> float:
    """USD for one request: token prices, or instance-hour price over the time it occupies."""
    token_cost = (
        prompt_tokens * spec.cost_per_1m_input + output_tokens * spec.cost_per_1m_output
    ) / 1e6
    if token_cost == 0 and spec.instance_hour_usd:
        return spec.instance_hour_usd * seconds / 3600.0
    return token_cost


def needed_capabilities(task: Task, requirements: Requirements, has_images: bool) -> set[str]:
    caps = set(requirements.required_capabilities)
    if has_images or task == "vision":
        caps.add("vision")
    return caps


@dataclass(frozen=True, slots=True)
class _Row:
    """The catalog fields scoring reads, flattened once per catalog for the hot path."""

    id: str
    capabilities: frozenset[str]
    specialization: dict[str, float]
    quality: float
    cost_in: float
    cost_out: float
    hour_usd: float
    context_window: int
    max_output: int
    tps: float


_ROWS_CACHE: dict[int, tuple[Catalog, tuple[_Row, ...]]] = {}


def _rows(catalog: Catalog) -> tuple[_Row, ...]:
    hit = _ROWS_CACHE.get(id(catalog))
    if hit is not None and hit[0] is catalog:
        return hit[1]
    rows = tuple(
        _Row(
            m.id,
            frozenset(m.capabilities),
            dict(m.specialization),
            m.quality,
            m.cost_per_1m_input,
            m.cost_per_1m_output,
            m.instance_hour_usd or 0.0,
            m.context_window,
            m.max_output_tokens,
            m.tokens_per_second,
        )
        for m in catalog.models
    )
    if len(_ROWS_CACHE) > 8:
        _ROWS_CACHE.clear()
    _ROWS_CACHE[id(catalog)] = (catalog, rows)
    return rows


def score_models(
    catalog: Catalog,
    task: Task,
    requirements: Requirements,
    prompt_tokens: int,
    max_output_tokens: int | None,
    index: SnapshotIndex,
    has_images: bool = False,
    only: Iterable[str] | None = None,
    limit: int | None = None,
    goal: str | None = None,
    history: HistoryIndex | None = None,
    history_policy: HistoryPolicy = DEFAULT_HISTORY_POLICY,
    keep_demoted: bool = False,
) -> list[ScoredModel]:
    """Capable, served models ranked best first (empty if none can take the request).

    With `limit` and `keep_demoted`, the best model past the limit that history marked down is
    appended after the top `limit`, so the reason can still name it (`demoted m (...)`).

    `goal` is the request's `optimize` (quality, cost, latency; None: balanced, or latency when
    `prefer_speed`). `history` is the refreshed outcome window; models with too little of it are
    scored on metadata alone. The arithmetic is `estimate_seconds` and `estimate_cost` inlined:
    this loop runs over every model for every auto-routed request.
    """
    caps = needed_capabilities(task, requirements, has_images)
    profile = profile_for(goal, requirements.prefer_speed)
    w = profile.weights
    speed_ref, cost_ref = profile.speed_ref_seconds, profile.cost_ref_usd
    use_history = history is not None and len(history) > 0
    effects: dict[str, tuple[float, str]] = {}
    allowed = set(only) if only is not None else None
    min_q, max_t, max_c = (
        requirements.min_quality,
        requirements.max_response_time,
        requirements.max_cost,
    )
    wanted_out = max_output_tokens or _DEFAULT_OUTPUT_TOKENS
    fitting: list[tuple[float, str, float, float, float, int]] = []
    others: list[tuple[float, str, float, float, float, int]] = []
    for row in _rows(catalog):
        if allowed is not None and row.id not in allowed:
            continue
        if not caps <= row.capabilities:
            continue
        health = index.health(row.id)
        if health.routable == 0:
            continue
        out_tokens = wanted_out if wanted_out < row.max_output else row.max_output
        if prompt_tokens + out_tokens > row.context_window:
            continue
        tps = health.tokens_per_second or row.tps
        seconds = (health.mean_latency_ms / 1000.0 + out_tokens / tps) * (
            1.0 + 0.5 * health.mean_in_flight
        )
        cost = (prompt_tokens * row.cost_in + out_tokens * row.cost_out) / 1e6
        if cost == 0 and row.hour_usd:
            cost = row.hour_usd * seconds / 3600.0
        fit = row.specialization.get(task, 0.0)
        score = (
            w.spec * fit
            + w.quality * row.quality
            + w.speed * (speed_ref / (speed_ref + seconds))
            + w.cost * (cost_ref / (cost_ref + cost))
            + w.load * (LOAD_REF / (LOAD_REF + health.mean_in_flight))
        )
        if use_history:
            effect = history_adjustment(history.for_model(row.id, task), history_policy)  # type: ignore[union-attr]
            if effect.reason:
                effects[row.id] = (effect.adjustment, effect.reason)
                score += effect.adjustment
        ok = (
            (min_q is None or row.quality >= min_q)
            and (max_t is None or seconds <= max_t)
            and (max_c is None or cost <= max_c)
        )
        (fitting if ok else others).append((-score, row.id, fit, seconds, cost, health.routable))
    relaxed = not fitting
    ranked = fitting or others
    ranked.sort()
    if limit is not None:
        demoted = None
        if (
            keep_demoted
            and effects
            and not any(effects.get(r[1], (0.0,))[0] < 0 for r in ranked[1:limit])
        ):
            demoted = next((r for r in ranked[limit:] if effects.get(r[1], (0.0,))[0] < 0), None)
        ranked = ranked[:limit] if demoted is None else [*ranked[:limit], demoted]
    return [
        ScoredModel(
            model,
            round(-neg, 4),
            fit,
            secs,
            cost,
            healthy,
            relaxed,
            *effects.get(model, (0.0, "")),
            profile.name,
        )
        for neg, model, fit, secs, cost, healthy in ranked
    ]


_UNSAFE = re.compile(r"[^\x20-\x7e]")
MAX_REASON_CHARS = 199


def header_safe(text: str) -> str:
    """Printable ASCII only, bounded length: safe as an HTTP header value."""
    clean = _UNSAFE.sub("?", text).strip()
    return clean if len(clean) <= MAX_REASON_CHARS else clean[: MAX_REASON_CHARS - 3] + "..."


def describe(best: ScoredModel, requirements: Requirements, goal_source: str | None = None) -> str:
    """The short parenthesised part of a reason, e.g. `spec 0.90, cost ok, 2 healthy`;
    `goal_source` "key" says the goal is the API key's default, not the request's own."""
    parts = [f"spec {best.spec:.2f}"]
    if requirements.max_cost is not None:
        parts.append("cost ok" if best.est_cost <= requirements.max_cost else "cost over")
    else:
        parts.append(f"cost ${best.est_cost:.4f}")
    if requirements.max_response_time is not None or requirements.prefer_speed:
        parts.append(f"~{best.est_seconds:.1f}s")
    parts.append(f"{best.healthy} healthy")
    if best.relaxed:
        parts.append("requirements relaxed")
    if best.goal != "balanced" and not (best.goal == "latency" and requirements.prefer_speed):
        parts.append(f"goal {best.goal}" + (" (key default)" if goal_source == "key" else ""))
    if best.history_reason:
        parts.append(best.history_reason)
    return ", ".join(parts)
