"""Seed 004's lineup as shipped: the task matrix falls out of auto-mode scoring, and cost."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.pricing import price_request
from devstack.lineup import select
from infra.config import load_config
from routing import engine
from routing.catalog import Catalog
from routing.instances import Instance
from routing.request_view import RequestView
from routing.requirements import Requirements
from routing.scoring import score_models
from routing.snapshot import SnapshotIndex

ROOT = Path(__file__).resolve().parents[2]
LINEUP = ["gemini-2.0-flash", "gpt-4.1-mini", "deepseek-v3", "gpt-4o-mini", "claude-4-sonnet",
          "minimax-m1"]  # fmt: skip
# Seed 004's TASK_ROUTING_MATRIX.
MATRIX = {
    "chat": "gemini-2.0-flash",
    "research": "gpt-4.1-mini",
    "coding": "deepseek-v3",
    "vision": "gpt-4o-mini",
    "reasoning": "claude-4-sonnet",
}
ALL_KEYS = {
    "GEMINI_API_KEY": "g",
    "OPENAI_API_KEY": "o",
    "DEEPSEEK_API_KEY": "d",
    "ANTHROPIC_API_KEY": "a",
    "MINIMAX_API_KEY": "m",
}


def lineup_catalog() -> tuple[Catalog, SnapshotIndex]:
    entries, instances = select(ALL_KEYS)
    now = time.time()
    live = [
        Instance(i.instance_id, i.model, "v1", "external", "", last_heartbeat=now, lease_seconds=0)
        for i in instances
    ]
    return Catalog.model_validate({"models": entries}), SnapshotIndex(live, now)


def test_local_profile_has_the_six_models_with_seed_figures() -> None:
    catalog, _ = lineup_catalog()
    assert catalog.ids == LINEUP
    flash = catalog.get("gemini-2.0-flash")
    assert (flash.cost_per_1m_input, flash.tokens_per_second, flash.context_window) == (
        0.18, 175.5, 1_000_000,
    )  # fmt: skip
    assert catalog.get("deepseek-v3").context_window == 64_000
    assert "vision" not in catalog.get("deepseek-v3").capabilities
    sonnet = catalog.get("claude-4-sonnet")
    assert (sonnet.cost_per_1m_output, sonnet.context_window, sonnet.fallback) == (
        6.0, 200_000, "gpt-4.1-mini",
    )  # fmt: skip
    assert catalog.get("minimax-m1").fallback == "gemini-2.0-flash"


def test_only_models_with_keys_are_added_and_dangling_fallbacks_dropped() -> None:
    entries, instances = select({"ANTHROPIC_API_KEY": "a"})
    assert [e["id"] for e in entries] == ["claude-4-sonnet"]
    assert "fallback" not in entries[0]
    assert instances[0].kind == "external"
    assert instances[0].tags == {
        "provider": "anthropic",
        "upstream_model": "claude-sonnet-4-20250514",
    }
    assert select({}) == ([], [])


@pytest.mark.parametrize(("task", "expected"), sorted(MATRIX.items()))
def test_task_matrix_falls_out_of_scoring(task: str, expected: str) -> None:
    catalog, index = lineup_catalog()
    ranked = score_models(catalog, task, Requirements(), 60, None, index)
    assert ranked[0].model == expected, [(s.model, s.score) for s in ranked]


@pytest.mark.parametrize(
    ("prompt", "images", "expected"),
    [
        ("hey, how is your day going?", 0, "gemini-2.0-flash"),
        ("Write a Python function that merges two sorted lists", 0, "deepseek-v3"),
        ("What is in this picture?", 1, "gpt-4o-mini"),
    ],
)
def test_auto_mode_end_to_end(prompt: str, images: int, expected: str) -> None:
    catalog, index = lineup_catalog()
    decision = engine.decide(
        RequestView(prompt=prompt, image_count=images, model="auto"), catalog, index
    )
    assert decision.candidates[0].model == expected, decision.reason


def test_premium_and_backup() -> None:
    catalog, index = lineup_catalog()
    premium = score_models(catalog, "chat", Requirements(min_quality=0.9), 60, None, index)
    assert premium[0].model == "claude-4-sonnet"
    decision = engine.decide(RequestView(prompt="hello there", model="auto"), catalog, index)
    assert [c.model for c in decision.candidates][-1] == "minimax-m1", "flash falls back to M1"


def test_prod_stage_ships_the_lineup_with_a_secret_per_provider() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    prod = load_config(context).stages["prod"]
    external = {m.id: m.hosting for m in prod.models if m.hosting.kind == "external"}
    assert set(LINEUP) <= set(external)
    secrets = {
        h.provider: h.api_key_secret_name for h in external.values() if h.provider != "bedrock"
    }
    assert set(secrets) == {"gemini", "openai", "deepseek", "anthropic", "minimax"}
    assert external["claude-4-sonnet"].provider_model == "claude-sonnet-4-20250514"
    assert external["claude-3-5-haiku"].provider_model.startswith("us.anthropic.")


def test_cost_prices_cached_tokens_from_the_catalog() -> None:
    catalog, _ = lineup_catalog()
    sonnet = catalog.get("claude-4-sonnet")
    plain = price_request(sonnet, 1_000_000, 0)
    cached = price_request(sonnet, 1_000_000, 0, cached_in=800_000, cache_write=100_000)
    assert plain == Decimal("6")
    # 100k fresh at $6, 800k read at $0.60, 100k written at $7.50 (per million)
    assert cached == Decimal("0.6") + Decimal("0.48") + Decimal("0.75")


def test_local_stack_adds_keyed_lineup_models_only_when_asked(tmp_path: Path) -> None:
    from devstack.stack import EmbeddedStack, StackOptions

    env = {"ANTHROPIC_API_KEY": "a", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    stack = EmbeddedStack(StackOptions(data_dir=tmp_path, lineup=True, router_env=env))
    ids = [m["id"] for m in stack.catalog["models"]]
    assert ids[-1] == "claude-4-sonnet" and "claude-4-sonnet" not in stack.local_models
    assert [i.model for i in stack.external_instances] == ["claude-4-sonnet"]
    Catalog.model_validate({"models": stack.catalog["models"]})
    quiet = EmbeddedStack(StackOptions(data_dir=tmp_path, router_env=env))
    assert quiet.external_instances == [], "tests never reach a provider unless they ask"
