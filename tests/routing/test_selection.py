"""Selection modes, scoring and the engine: what a caller of the router would notice."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.engine import decide, recommend
from routing.instances import Instance
from routing.request_view import RequestView
from routing.requirements import Requirements
from routing.rollouts import RolloutTable
from routing.scoring import estimate_tokens
from routing.selection import ModelNotServed, NoCapableModel, UnknownModel
from routing.snapshot import SnapshotIndex, group_by_model_version
from tests.routing.world import NOW, inst, make_catalog, make_snapshot

CATALOG = make_catalog()
IMAGE_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What breed is this dog?"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/dog.png"}},
        ],
    }
]


def _decide(view: RequestView, snapshot: list[Instance] | None = None, seed: int = 1, **kw):
    snap = make_snapshot() if snapshot is None else snapshot
    return decide(view, CATALOG, snap, now=NOW, rng=random.Random(seed), **kw)


def _without(model: str) -> list[Instance]:
    return [i for i in make_snapshot() if i.model != model]


# -- manual -------------------------------------------------------------------------------------


def test_manual_mode_uses_exactly_that_model() -> None:
    d = _decide(RequestView(prompt="Write a poem about rain", model="coder"))
    assert d.mode == "manual"
    assert {c.model for c in d.candidates} == {"coder"}
    assert d.task == "creative"  # the task is still reported
    assert d.reason.startswith("manual: model=coder")


def test_manual_unknown_model_is_404_not_found() -> None:
    with pytest.raises(UnknownModel) as err:
        _decide(RequestView(prompt="hi", model="gpt-17"))
    assert err.value.status == 404 and err.value.code == "model_not_found"


def test_manual_known_but_unserved_model_is_404_not_served() -> None:
    with pytest.raises(ModelNotServed) as err:
        _decide(RequestView(prompt="hi", model="writer"), _without("writer"))
    assert err.value.status == 404 and err.value.code == "model_not_served"


# -- auto ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "model"),
    [
        ("Write a Rust function that reverses a string in place", "coder"),
        ("Write a short poem about the sea at night", "writer"),
        ("Summarise the research literature on microplastics in the ocean", "generalist"),
    ],
)
def test_auto_picks_the_specialist(prompt: str, model: str) -> None:
    for view in (
        RequestView(prompt=prompt, auto_select=True),
        RequestView(prompt=prompt, model="auto"),
    ):
        d = _decide(view)
        assert d.mode == "auto" and d.model == model
        assert d.reason.startswith(f"auto: task={d.task}(")
        assert f"-> {model} score=" in d.reason


def test_auto_reason_is_header_safe() -> None:
    d = _decide(RequestView(prompt="Écris un poème sur la mer 🌊 " * 40, auto_select=True))
    assert d.reason.isascii() and len(d.reason) < 200
    assert "\n" not in d.reason and "\r" not in d.reason
    assert d.headers()["x-motherfluxer-task"] == d.task


def test_images_route_only_to_vision_capable_models() -> None:
    d = _decide(RequestView.from_messages(IMAGE_MESSAGES, auto_select=True))
    assert d.task == "vision"
    assert {c.model for c in d.candidates} == {"generalist"}
    with pytest.raises(NoCapableModel):
        _decide(RequestView.from_messages(IMAGE_MESSAGES, auto_select=True), _without("generalist"))


def test_required_tools_capability_filters_models() -> None:
    view = RequestView(
        prompt="Write a haiku", requirements=Requirements(required_capabilities={"tools"})
    )
    d = _decide(view)
    assert d.model in {"coder", "generalist"}
    assert "writer" not in {c.model for c in d.candidates}


def test_context_window_fit_excludes_small_models() -> None:
    long_text = "Tell me about your weekend. " * 3000  # ~21k tokens
    d = _decide(RequestView(prompt=long_text))
    assert {c.model for c in d.candidates} == {"generalist"}


def test_requirements_steer_the_choice() -> None:
    prompt = "hello there, how are you?"
    quality = _decide(RequestView(prompt=prompt, requirements=Requirements(min_quality=0.85)))
    assert quality.model == "generalist"
    cheap = _decide(RequestView(prompt=prompt, requirements=Requirements(max_cost=0.0001)))
    assert cheap.model != "generalist"
    fast = recommend(
        RequestView(prompt=prompt, requirements=Requirements(prefer_speed=True)),
        CATALOG,
        make_snapshot(),
        now=NOW,
    )
    assert fast.recommended_model == "tiny"


def test_impossible_requirements_are_relaxed_not_fatal() -> None:
    view = RequestView(prompt="hi", requirements=Requirements(min_quality=1.0, max_cost=0.0))
    d = _decide(view)
    assert "requirements relaxed" in d.reason


def test_load_lowers_a_model_score() -> None:
    idle = recommend(
        RequestView(prompt="What is the capital of Chile?"), CATALOG, make_snapshot(), now=NOW
    )
    busy_snapshot = [
        inst(i.model, int(i.instance_id.rsplit("-", 1)[1]), i.version, in_flight=40)
        if i.model == idle.recommended_model
        else i
        for i in make_snapshot()
    ]
    busy = recommend(
        RequestView(prompt="What is the capital of Chile?"), CATALOG, busy_snapshot, now=NOW
    )
    assert busy.recommended_model != idle.recommended_model


# -- hybrid and lists ---------------------------------------------------------------------------


def test_hybrid_prefers_then_falls_back_to_auto() -> None:
    view = RequestView(prompt="Write a Python class for a stack", preferred_model="writer")
    d = _decide(view)
    assert d.mode == "hybrid"
    assert [c.model for c in d.candidates][:2] == ["writer", "coder"]
    d = _decide(view, _without("writer"))
    assert d.model == "coder" and "preferred=writer not served" in d.reason


def test_hybrid_fallback_none_and_explicit_list() -> None:
    none = RequestView(prompt="hi", preferred_model="writer", fallback_mode="none")
    assert {c.model for c in _decide(none).candidates} == {"writer"}
    with pytest.raises(ModelNotServed) as err:
        _decide(none, _without("writer"))
    assert err.value.status == 503
    listed = RequestView(prompt="hi", preferred_model="writer", fallback_mode=["tiny", "coder"])
    assert [c.model for c in _decide(listed, _without("writer")).candidates] == ["tiny", "coder"]


def test_hybrid_unknown_preferred_falls_back_to_auto_and_says_so() -> None:
    d = _decide(RequestView(prompt="Write a Python class for a stack", preferred_model="nope"))
    assert d.mode == "hybrid" and d.model == "coder"
    assert d.reason.startswith("preferred 'nope' unknown → auto; auto: task=coding")


def test_hybrid_unknown_preferred_without_auto_fallback_is_unknown_model() -> None:
    with pytest.raises(UnknownModel):
        _decide(RequestView(prompt="hi", preferred_model="nope", fallback_mode="none"))
    with pytest.raises(UnknownModel):
        _decide(RequestView(prompt="hi", preferred_model="nope", fallback_mode=["tiny"]))


def test_openai_model_list_is_preference_order() -> None:
    d = _decide(RequestView(prompt="hi", model=["writer", "tiny"]))
    assert d.mode == "list" and [c.model for c in d.candidates] == ["writer", "tiny"]
    d = _decide(RequestView(prompt="hi", model=["writer", "tiny"]), _without("writer"))
    assert d.model == "tiny"
    with pytest.raises(UnknownModel):
        _decide(RequestView(prompt="hi", model=["writer", "ghost"]))


# -- versions, instances and failover ------------------------------------------------------------


def test_rollout_version_is_on_the_plan_and_sticky() -> None:
    rollouts = RolloutTable(CATALOG)
    rollouts.canary("coder", "v1", "v2", 50)
    view = RequestView(prompt="hi", model="coder", user_id="alice")
    first = _decide(view, rollouts=rollouts, seed=1).version
    assert all(_decide(view, rollouts=rollouts, seed=s).version == first for s in range(20))
    plan = [c.version for c in _decide(view, rollouts=rollouts).candidates]
    assert sorted(plan) == ["v1", "v2"]


def test_next_instance_walks_the_plan_skipping_tried_ids() -> None:
    d = _decide(RequestView(prompt="Write a C function to copy a string", model="coder"))
    tried: list[str] = []
    while (nxt := d.next_instance(exclude=tried)) is not None:
        tried.append(nxt[1].instance_id)
        assert nxt[1].model == "coder"
    assert sorted(tried) == ["coder-v1-1", "coder-v1-2"]  # v2 has weight 0


def test_group_by_model_version_and_index() -> None:
    groups = group_by_model_version(make_snapshot())
    assert len(groups[("coder", "v1")]) == 2 and len(groups[("coder", "v2")]) == 1
    index = SnapshotIndex(make_snapshot(), NOW)
    assert index.health("generalist").mean_in_flight == 1.5
    assert index.routable_versions("coder") == {"v1", "v2"}


def test_recommend_shape() -> None:
    view = RequestView.from_messages(
        [{"role": "user", "content": "Write a Python function"}],
        requirements=Requirements(max_response_time=30, min_quality=0.5),
    )
    rec = recommend(view, CATALOG, make_snapshot(), now=NOW)
    assert rec.task == "coding" and rec.recommended_model == "coder"
    assert 0 < rec.confidence <= 1
    assert rec.recommended_model not in [a.model for a in rec.alternatives]
    assert len({a.model for a in rec.alternatives}) == len(rec.alternatives)
    assert "coding" in rec.reasoning


def test_estimate_tokens_counts_text_and_images() -> None:
    assert estimate_tokens("") == 0
    assert 20 <= estimate_tokens("x" * 100) <= 30
    assert estimate_tokens("hi", images=1) > 700


# -- properties ---------------------------------------------------------------------------------

_bad_kw = st.sampled_from(
    [
        {"status": "unhealthy"},
        {"status": "draining"},
        {"status": "starting"},
        {"ejected_until": NOW + 30},
        {"breaker_state": "open"},
        {"last_heartbeat": NOW - 300},
        {},
        {},
        {},
    ]
)


@st.composite
def _world(draw: st.DrawFn) -> list[Instance]:
    out = []
    for model in ("coder", "writer", "generalist", "tiny"):
        for n in range(draw(st.integers(0, 3))):
            out.append(inst(model, n, **draw(_bad_kw), in_flight=draw(st.integers(0, 9))))
    return out


_views = st.builds(
    RequestView,
    prompt=st.sampled_from(
        [
            "hi",
            "Write a Go web server",
            "Write a sonnet",
            "What is 2+2?",
            "Compare studies on sleep",
        ]
    ),
    image_count=st.sampled_from([0, 0, 1]),
    model=st.sampled_from([None, "auto", "coder", "generalist", ["writer", "tiny"]]),
    user_id=st.sampled_from([None, "u1", "u2"]),
)


@settings(max_examples=200, deadline=None)
@given(world=_world(), view=_views, seed=st.integers(0, 2**16))
def test_decisions_never_yield_bad_or_incapable_instances(
    world: list[Instance], view: RequestView, seed: int
) -> None:
    try:
        d = decide(view, CATALOG, world, now=NOW, rng=random.Random(seed))
    except (ModelNotServed, NoCapableModel, UnknownModel):
        return
    tried: list[str] = []
    for _ in range(len(world) + 1):
        nxt = d.next_instance(exclude=tried)
        if nxt is None:
            break
        cand, chosen = nxt
        assert chosen.is_routable(NOW) and chosen.breaker_state == "closed"
        assert (chosen.model, chosen.version) == (cand.model, cand.version)
        if view.has_images and view.model in (None, "auto"):
            assert "vision" in CATALOG.get(chosen.model).capabilities
        tried.append(chosen.instance_id)


@settings(max_examples=100, deadline=None)
@given(world=_world(), view=_views, seed=st.integers(0, 2**16))
def test_equal_inputs_give_equal_decisions(
    world: list[Instance], view: RequestView, seed: int
) -> None:
    def run():
        try:
            d = decide(view, CATALOG, world, now=NOW, rng=random.Random(seed))
        except (ModelNotServed, NoCapableModel, UnknownModel) as exc:
            return type(exc).__name__
        return (d.candidates, d.reason, d.task, d.next_instance())

    assert run() == run()


def test_recommend_still_lists_alternatives_that_miss_strict_requirements() -> None:
    strict = Requirements(max_response_time=5.0, min_quality=0.8, prefer_speed=True)
    rec = recommend(
        RequestView(prompt="Write a Python function", requirements=strict),
        CATALOG,
        make_snapshot(),
        now=NOW,
    )
    assert rec.recommended_model == "coder"
    assert {a.model for a in rec.alternatives} == {"generalist", "tiny", "writer"}
    assert all(a.score < rec.score for a in rec.alternatives)
