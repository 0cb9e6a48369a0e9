"""Mean feedback in the history score: joined per (model, version, task), bounded, explained."""

from __future__ import annotations

from routing.history import HistoryIndex, OutcomeStats, history_adjustment, with_feedback

KEY = ("m", "v1", "chat")


def test_feedback_joins_only_keys_with_outcomes_and_is_clamped() -> None:
    stats = {KEY: OutcomeStats(n=240, success_rate=0.71)}
    joined = with_feedback(stats, {KEY: (-3.0, 31), ("idle", "v1", "chat"): (1.0, 9)})
    assert set(joined) == {KEY}
    assert joined[KEY].feedback_mean == -1.0 and joined[KEY].feedback_n == 31


def test_the_reason_shows_success_and_feedback_with_their_samples() -> None:
    stats = with_feedback({KEY: OutcomeStats(n=240, success_rate=0.71)}, {KEY: (0.62, 31)})
    effect = history_adjustment(HistoryIndex(stats).for_model("m", "chat"))
    assert effect.reason.startswith("history: success 0.71 (n=240) feedback +0.62 (n=31) ")
    assert effect.reason.endswith(f"{effect.adjustment:+.2f}")


def test_bad_feedback_lowers_the_score_within_the_bound() -> None:
    plain = OutcomeStats(n=240, success_rate=0.99)
    rated = with_feedback({KEY: plain}, {KEY: (-1.0, 40)})[KEY]
    praised = with_feedback({KEY: plain}, {KEY: (1.0, 40)})[KEY]
    low, mid, high = (history_adjustment(s).adjustment for s in (rated, plain, praised))
    assert low < mid < high
    assert -0.20 <= low and high <= 0.20


def test_too_few_ratings_leave_the_score_alone() -> None:
    plain = OutcomeStats(n=240, success_rate=0.99)
    few = with_feedback({KEY: plain}, {KEY: (-1.0, 2)})[KEY]
    assert history_adjustment(few).adjustment == history_adjustment(plain).adjustment
    assert "feedback" not in history_adjustment(few).reason
