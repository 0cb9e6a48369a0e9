"""Custom routing rules: operators, ordering, validation, and their effect on decisions."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from routing.engine import decide
from routing.request_view import RequestView
from routing.rules import RequestFacts, RuleSet, load_rules
from tests.routing.world import NOW, make_catalog, make_snapshot


def _cond(field: str, op: str, value: object, key: str | None = None) -> RuleSet:
    cond = {"field": field, "op": op, "value": value}
    if key:
        cond["key"] = key
    return load_rules([{"name": "r", "when": [cond], "action": {"route_to": "tiny"}}])


FACTS = RequestFacts(
    task="coding",
    estimated_tokens=1200,
    max_tokens=300,
    has_images=False,
    stream=True,
    model="coder",
    metadata={"team": "search-infra", "env": "prod"},
    tier="free",
    user_id="org42:alice",
)


@pytest.mark.parametrize(
    ("field", "op", "value", "key", "expected"),
    [
        ("task", "eq", "coding", None, True),
        ("task", "ne", "coding", None, False),
        ("task", "in", ["qa", "coding"], None, True),
        ("task", "not_in", ["qa", "chat"], None, True),
        ("estimated_tokens", "gt", 1000, None, True),
        ("estimated_tokens", "gte", 1200, None, True),
        ("estimated_tokens", "lt", 1200, None, False),
        ("max_tokens", "lte", 300, None, True),
        ("has_images", "eq", True, None, False),
        ("stream", "eq", True, None, True),
        ("model", "eq", "coder", None, True),
        ("metadata", "eq", "prod", "env", True),
        ("metadata", "contains", "infra", "team", True),
        ("metadata", "eq", "x", "missing-key", False),
        ("metadata", "ne", "x", "missing-key", True),
        ("tier", "in", ["free", "trial"], None, True),
        ("user_id", "prefix", "org42:", None, True),
        ("user_id", "matches", r"^org\d+:a", None, True),
        ("user_id", "matches", r"^org\d+:b", None, False),
    ],
)
def test_operators(field: str, op: str, value: object, key: str | None, expected: bool) -> None:
    rules = _cond(field, op, value, key)
    assert (rules.first_match(FACTS) is not None) is expected


def test_first_match_wins_and_all_conditions_must_hold() -> None:
    rules = load_rules(
        {
            "rules": [
                {
                    "name": "free-coding",
                    "when": [
                        {"field": "tier", "op": "eq", "value": "free"},
                        {"field": "task", "op": "eq", "value": "qa"},
                    ],
                    "action": {"route_to": "tiny"},
                },
                {
                    "name": "free",
                    "when": [{"field": "tier", "op": "eq", "value": "free"}],
                    "action": {"strategy": "cost"},
                },
                {"name": "catch-all", "action": {"route_to": "generalist"}},
            ]
        }
    )
    assert rules.first_match(FACTS).name == "free"
    assert rules.first_match(RequestFacts(tier="pro")).name == "catch-all"


@pytest.mark.parametrize(
    "bad",
    [
        [
            {
                "name": "x",
                "when": [{"field": "prompt", "op": "eq", "value": 1}],
                "action": {"route_to": "m"},
            }
        ],
        [
            {
                "name": "x",
                "when": [{"field": "task", "op": "exec", "value": "1"}],
                "action": {"route_to": "m"},
            }
        ],
        [
            {
                "name": "x",
                "when": [{"field": "task", "op": "matches", "value": "("}],
                "action": {"route_to": "m"},
            }
        ],
        [
            {
                "name": "x",
                "when": [{"field": "task", "op": "matches", "value": "a" * 500}],
                "action": {"route_to": "m"},
            }
        ],
        [
            {
                "name": "x",
                "when": [{"field": "estimated_tokens", "op": "gt", "value": "10"}],
                "action": {"route_to": "m"},
            }
        ],
        [
            {
                "name": "x",
                "when": [{"field": "metadata", "op": "eq", "value": "1"}],
                "action": {"route_to": "m"},
            }
        ],
        [{"name": "x", "action": {}}],
        [{"name": "x", "action": {"strategy": "lua_script"}}],
        [{"name": "x", "action": {"route_to": "m"}}, {"name": "x", "action": {"route_to": "m"}}],
    ],
)
def test_invalid_rules_fail_at_load(bad: list[dict]) -> None:
    with pytest.raises(ValidationError):
        load_rules(bad)


def test_rules_naming_unknown_models_fail_against_the_catalog() -> None:
    with pytest.raises(ValueError):
        load_rules([{"name": "x", "action": {"route_to": "ghost"}}], make_catalog())


def test_rule_route_overrides_auto_and_is_in_the_reason() -> None:
    rules = load_rules(
        [
            {
                "name": "free-tiny",
                "when": [{"field": "tier", "op": "eq", "value": "free"}],
                "action": {"route_to": "tiny"},
            }
        ],
        make_catalog(),
    )
    view = RequestView(prompt="Write a Python function to merge two dicts", tier="free")
    d = decide(view, make_catalog(), make_snapshot(), rules=rules, now=NOW, rng=random.Random(1))
    assert d.model == "tiny"
    assert d.rule == "free-tiny"
    assert "rule=free-tiny" in d.reason
    # The auto choice stays behind the rule's model as failover.
    assert "coder" in [c.model for c in d.candidates]


def test_rule_strategy_and_version_pin() -> None:
    rules = load_rules(
        [
            {
                "name": "pin",
                "when": [{"field": "metadata", "key": "canary", "op": "eq", "value": "yes"}],
                "action": {"route_to": "coder", "version": "v2", "strategy": "round_robin"},
            }
        ],
        make_catalog(),
    )
    view = RequestView(prompt="hello", metadata={"canary": "yes"})
    d = decide(view, make_catalog(), make_snapshot(), rules=rules, now=NOW, rng=random.Random(1))
    assert (d.candidates[0].model, d.candidates[0].version) == ("coder", "v2")
    assert d.candidates[0].strategy == "round_robin"


def test_rule_fallback_list_replaces_the_hybrid_fallback() -> None:
    rules = load_rules([{"name": "fb", "action": {"fallback": ["tiny"]}}], make_catalog())
    view = RequestView(prompt="hi", preferred_model="writer", fallback_mode="auto")
    d = decide(view, make_catalog(), make_snapshot(), rules=rules, now=NOW, rng=random.Random(1))
    assert [c.model for c in d.candidates] == ["writer", "tiny"]


def test_catastrophic_backtracking_patterns_are_refused() -> None:
    for pattern in ("(a+)+$", r"(\w+\s?)*$", "(x{2,})*"):
        with pytest.raises(ValidationError):
            _cond("user_id", "matches", pattern)
    # Plain alternation and a literal parenthesis are fine.
    assert _cond("user_id", "matches", r"^(org|team)\d+:").first_match(FACTS) is not None
    _cond("user_id", "matches", r"\(a+\)+")
