"""Seed 004's `cost_optimized` and `premium` routes as the configured outcomes of the cost and
quality goals for its lineup (devstack/lineup.json rules), and what scoring alone would do."""

from __future__ import annotations

import pytest

from devstack.lineup import rules_for, select
from routing import engine
from routing.request_view import RequestView
from routing.rules import load_rules
from tests.providers.test_lineup import lineup_catalog

PROMPTS = [
    "hey, how is your day going?",
    "Write a Python function that merges two sorted lists",
    "Compare the evidence on remote work and productivity across recent studies",
]


def lineup_rules():
    catalog, _ = lineup_catalog()
    return load_rules(rules_for(set(catalog.ids)), catalog)


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize(
    ("goal", "route", "model"),
    [("cost", "cost_optimized", "minimax-m1"), ("quality", "premium", "claude-4-sonnet")],
)
def test_goal_routes_pick_the_seeds_models_and_say_so(
    prompt: str, goal: str, route: str, model: str
) -> None:
    catalog, index = lineup_catalog()
    view = RequestView(prompt=prompt, model="auto", goal=goal)
    decision = engine.decide(view, catalog, index, lineup_rules())
    assert decision.candidates[0].model == model, decision.reason
    assert decision.reason.startswith(f"rule={route} -> {model}")
    assert f"goal {goal}" in decision.reason


def test_without_a_goal_the_task_matrix_still_applies() -> None:
    catalog, index = lineup_catalog()
    view = RequestView(prompt=PROMPTS[0], model="auto")
    decision = engine.decide(view, catalog, index, lineup_rules())
    assert decision.candidates[0].model == "gemini-2.0-flash"
    assert decision.rule is None


def test_a_named_model_keeps_its_model_whatever_the_goal() -> None:
    catalog, index = lineup_catalog()
    view = RequestView(prompt=PROMPTS[0], model="gpt-4o-mini", goal="cost")
    decision = engine.decide(view, catalog, index, lineup_rules())
    assert decision.candidates[0].model == "gpt-4o-mini"


def test_at_the_seeds_prices_scoring_alone_finds_flash_cheaper_than_minimax() -> None:
    # Why the route is configuration: $0.18 vs $0.75 per 1M tokens, and Flash is faster.
    catalog, index = lineup_catalog()
    view = RequestView(prompt=PROMPTS[0], model="auto", goal="cost")
    assert engine.decide(view, catalog, index).candidates[0].model == "gemini-2.0-flash"
    flash, m1 = catalog.get("gemini-2.0-flash"), catalog.get("minimax-m1")
    assert flash.cost_per_1m_output < m1.cost_per_1m_output
    assert flash.tokens_per_second > m1.tokens_per_second


def test_rules_for_unserved_models_are_dropped() -> None:
    entries, _ = select({"GEMINI_API_KEY": "g", "ANTHROPIC_API_KEY": "a"})
    names = [r["name"] for r in rules_for({e["id"] for e in entries})]
    assert names == ["premium"]
