"""Historical performance as a bounded adjustment to a model's score.

The router keeps a rolling window of outcomes per (model, version, task) and hands the aggregates
to routing as plain numbers (`OutcomeStats`), refreshed off the hot path like instance health.
`history_adjustment` turns them into one number added to the metadata score and a short reason
fragment such as `history: success 0.71 (n=240) -0.09`.

The adjustment is

    weight * confidence * clamp(sum of terms, -1, 1)

where each term is in -1..1 (success rate against a target, mean feedback, p95 latency, tokens
per second and cost per request against references) and `confidence = n / (n + prior_n)` grows
with the sample. So it is bounded by `weight`: a model with a few bad outcomes is demoted, never
banned, and a model with fewer than `min_samples` outcomes is scored on its metadata alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class OutcomeStats:
    """Aggregates of one rolling window for one (model, version, task).

    `success_rate` counts requests without an error whose finish reason was not `error`. Latency
    and tokens/s are over successful requests only: an instance that fails fast must not look quick.
    `feedback_mean` is normalised to -1..1 (a thumbs score as is, a 1-5 rating as (r - 3) / 2);
    None when nobody rated.
    """

    n: int
    success_rate: float
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    tokens_per_s: float = 0.0
    cost_usd: float = 0.0
    feedback_mean: float | None = None
    feedback_n: int = 0


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """How much history may move a score; every field is configuration."""

    weight: float = 0.20  # the most history can add or take away (scores are 0..1)
    min_samples: int = 20  # fewer outcomes than this: metadata only
    prior_n: int = 50  # confidence n / (n + prior_n): 0.5 at 50 outcomes, 0.83 at 240
    success_target: float = 0.95  # at the target the success term is 0
    success_floor: float = 0.50  # at or below the floor it is -1
    success_weight: float = 1.0
    feedback_weight: float = 0.5
    feedback_min_n: int = 5
    latency_weight: float = 0.25
    latency_ref_ms: float = 10_000.0  # p95 equal to this gives 0; faster is positive
    throughput_weight: float = 0.0
    throughput_ref_tps: float = 50.0
    cost_weight: float = 0.0
    cost_ref_usd: float = 0.01

    def __post_init__(self) -> None:
        if not 0 <= self.weight <= 1:
            raise ValueError("history weight must be within 0..1")
        if not 0 <= self.success_floor < self.success_target <= 1:
            raise ValueError("need 0 <= success_floor < success_target <= 1")
        if self.min_samples < 0 or self.prior_n < 0:
            raise ValueError("min_samples and prior_n must be >= 0")


DEFAULT_HISTORY_POLICY = HistoryPolicy()


@dataclass(frozen=True, slots=True)
class HistoryEffect:
    """What history did to one model's score, and how the route reason says it."""

    adjustment: float
    reason: str
    used: bool


def _clamp(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return lo if x < lo else hi if x > hi else x


def _ratio_term(value: float, ref: float, higher_is_better: bool) -> float:
    """2*ref/(ref+value) - 1 (or its mirror): +1 at the best end, 0 at the reference, -1 far out."""
    if value <= 0:
        return 0.0
    closeness = ref / (ref + value)
    return (1.0 - 2.0 * closeness) if higher_is_better else (2.0 * closeness - 1.0)


def history_terms(stats: OutcomeStats, policy: HistoryPolicy) -> dict[str, float]:
    """Each factor's signed contribution before the bound and the confidence, for reports."""
    span = policy.success_target - policy.success_floor
    terms = {
        "success": policy.success_weight
        * _clamp((stats.success_rate - policy.success_target) / span)
    }
    if stats.feedback_mean is not None and stats.feedback_n >= policy.feedback_min_n:
        terms["feedback"] = policy.feedback_weight * _clamp(stats.feedback_mean)
    if policy.latency_weight and stats.p95_ms > 0:
        terms["latency"] = policy.latency_weight * _ratio_term(
            stats.p95_ms, policy.latency_ref_ms, higher_is_better=False
        )
    if policy.throughput_weight and stats.tokens_per_s > 0:
        terms["throughput"] = policy.throughput_weight * _ratio_term(
            stats.tokens_per_s, policy.throughput_ref_tps, higher_is_better=True
        )
    if policy.cost_weight and stats.cost_usd > 0:
        terms["cost"] = policy.cost_weight * _ratio_term(
            stats.cost_usd, policy.cost_ref_usd, higher_is_better=False
        )
    return terms


def history_adjustment(
    stats: OutcomeStats | None, policy: HistoryPolicy = DEFAULT_HISTORY_POLICY
) -> HistoryEffect:
    """The bounded score adjustment for one model's recent outcomes (0 without enough history)."""
    if stats is None or policy.weight == 0:
        return HistoryEffect(0.0, "", False)
    if stats.n < max(1, policy.min_samples):
        return HistoryEffect(
            0.0, f"history: n={stats.n} < {policy.min_samples}, metadata only", False
        )
    confidence = stats.n / (stats.n + policy.prior_n)
    raw = _clamp(sum(history_terms(stats, policy).values()))
    # Rounded for the reason line, then clamped: rounding must not step past the bound.
    bound = policy.weight
    adjustment = max(-bound, min(bound, round(policy.weight * confidence * raw, 4)))
    reason = f"history: success {stats.success_rate:.2f} (n={stats.n})"
    if stats.feedback_mean is not None and stats.feedback_n >= policy.feedback_min_n:
        reason += f" feedback {stats.feedback_mean:+.2f} (n={stats.feedback_n})"
    return HistoryEffect(adjustment, f"{reason} {adjustment:+.2f}", True)


def with_feedback(
    stats: Mapping[tuple[str, str, str], OutcomeStats],
    feedback: Mapping[tuple[str, str, str], tuple[float, int]],
) -> dict[tuple[str, str, str], OutcomeStats]:
    """The window's stats with each key's mean feedback (-1..1, ratings) joined in.

    Feedback without outcomes in the window adds nothing: history needs outcomes to count, and
    a model idle for the whole window is scored on its metadata, as any other.
    """
    out = dict(stats)
    for key, (mean, n) in feedback.items():
        one = out.get(key)
        if one is not None and n > 0:
            out[key] = replace(one, feedback_mean=_clamp(mean), feedback_n=n)
    return out


def merge_versions(per_version: Mapping[str, OutcomeStats]) -> OutcomeStats | None:
    """One model's stats for a task across its versions, weighted by each version's sample."""
    stats = [s for s in per_version.values() if s.n > 0]
    if not stats:
        return None
    n = sum(s.n for s in stats)
    rated = [s for s in stats if s.feedback_mean is not None and s.feedback_n > 0]
    feedback_n = sum(s.feedback_n for s in rated)

    def mean(attr: str) -> float:
        return sum(getattr(s, attr) * s.n for s in stats) / n

    return OutcomeStats(
        n=n,
        success_rate=mean("success_rate"),
        # Percentiles do not average exactly; the sample-weighted mean is a fair summary here.
        p50_ms=mean("p50_ms"),
        p95_ms=mean("p95_ms"),
        tokens_per_s=mean("tokens_per_s"),
        cost_usd=mean("cost_usd"),
        feedback_mean=(
            sum(s.feedback_mean * s.feedback_n for s in rated) / feedback_n  # type: ignore[operator]
            if feedback_n
            else None
        ),
        feedback_n=feedback_n,
    )


class HistoryIndex:
    """The refreshed window, keyed (model, version, task) -> stats; built off the hot path.

    Per-model merges are computed once here so a routing decision only does dict lookups.
    """

    __slots__ = ("_by_version", "_merged")

    def __init__(self, stats: Mapping[tuple[str, str, str], OutcomeStats]) -> None:
        self._by_version = dict(stats)
        grouped: dict[tuple[str, str], dict[str, OutcomeStats]] = {}
        for (model, version, task), one in stats.items():
            grouped.setdefault((model, task), {})[version] = one
        self._merged = {key: merge_versions(group) for key, group in grouped.items()}

    def __len__(self) -> int:
        return len(self._by_version)

    def for_model(self, model: str, task: str, version: str | None = None) -> OutcomeStats | None:
        """Stats for one version, or merged over all versions of the model when none is given."""
        if version is not None:
            return self._by_version.get((model, version, task))
        return self._merged.get((model, task))


EMPTY_HISTORY = HistoryIndex({})
