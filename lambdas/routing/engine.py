"""The one entry point the router calls: classify, apply rules, select, roll out, pick.

`decide` turns a request view plus the world (catalog, instance snapshot, rules, rollouts) into a
`Decision`: an ordered plan of (model, version) candidates with the instance strategy for each,
the task and its confidence, and a one-line reason for the `x-motherfluxer-route-reason` header.
The router then calls `Decision.pick` (or `next_instance`) with the ids it has already tried, so
failover walks the plan without deciding again. `recommend` is the dry run behind
`/models/recommend`: same classifier and scoring, no instance is chosen and nothing is called.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from routing.catalog import Catalog, Strategy, Task
from routing.classifier import Classification, classify
from routing.history import HistoryIndex
from routing.instances import Instance
from routing.request_view import RequestView
from routing.requirements import Requirements
from routing.rollouts import RolloutTable
from routing.rules import RequestFacts, Rule, RuleSet
from routing.scoring import header_safe
from routing.selection import (
    NAMED_MODES,
    Mode,
    ModelChoice,
    ModelNotServed,
    NoCapableModel,
    auto_ranking,
    choose_models,
    resolve_mode,
)
from routing.snapshot import SnapshotIndex, as_index
from routing.strategies import StrategyState, pick_instance


@dataclass(frozen=True, slots=True)
class RouteCandidate:
    model: str
    version: str
    strategy: Strategy


@dataclass
class Decision:
    mode: Mode
    candidates: tuple[RouteCandidate, ...]
    reason: str
    # The prompt's classification, or how to make it: a request that names its models needs
    # it only for its task label, so the router may compute it while it waits on I/O.
    classify: Classification | Callable[[], Classification]
    rule: str | None = None
    _index: SnapshotIndex | None = field(default=None, repr=False)
    _now: float = field(default=0.0, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)
    _state: StrategyState | None = field(default=None, repr=False)

    @property
    def classification(self) -> Classification:
        if not isinstance(self.classify, Classification):
            self.classify = self.classify()
        return self.classify

    @property
    def classified(self) -> bool:
        return isinstance(self.classify, Classification)

    def finish_classification(self) -> None:
        _ = self.classification

    @property
    def task(self) -> Task:
        return self.classification.task

    @property
    def confidence(self) -> float:
        return self.classification.confidence

    @property
    def model(self) -> str:
        return self.candidates[0].model

    @property
    def version(self) -> str:
        return self.candidates[0].version

    def headers(self) -> dict[str, str]:
        return {"x-motherfluxer-task": self.task, "x-motherfluxer-route-reason": self.reason}

    def pick(
        self,
        candidate: RouteCandidate,
        exclude: Collection[str] = (),
        allow_half_open: bool = False,
        now: float | None = None,
    ) -> Instance | None:
        """An instance of `candidate` by its strategy, skipping ids in `exclude`."""
        assert self._index is not None and self._rng is not None
        return pick_instance(
            candidate.strategy,
            self._index.instances_of(candidate.model, candidate.version),
            self._now if now is None else now,
            self._rng,
            self._state,
            exclude,
            allow_half_open,
        )

    def next_instance(
        self,
        exclude: Collection[str] = (),
        allow_half_open: bool = False,
        now: float | None = None,
    ) -> tuple[RouteCandidate, Instance] | None:
        """The first candidate in plan order that still has an untried routable instance."""
        for candidate in self.candidates:
            inst = self.pick(candidate, exclude, allow_half_open, now)
            if inst is not None:
                return candidate, inst
        return None


# The plan the router walks; `Decision` carries it together with the means to pick instances.
RoutePlan = Decision


def facts_for(request: RequestView, task: Task) -> RequestFacts:
    model = request.model if isinstance(request.model, str) else request.preferred_model
    return RequestFacts(
        task=task,
        estimated_tokens=request.estimated_tokens(),
        max_tokens=request.max_tokens,
        has_images=request.has_images,
        stream=request.stream,
        model=model,
        metadata=request.metadata,
        tier=request.tier,
        user_id=request.user_id,
        # Only an auto-routed request has a goal to route on: a named model stays the caller's.
        goal=request.goal if _is_auto(request) else None,
    )


def _is_auto(request: RequestView) -> bool:
    if request.auto_select:
        return True
    return request.model in (None, "auto") and request.preferred_model is None


def _versions_for(
    model: str,
    catalog: Catalog,
    index: SnapshotIndex,
    rollouts: RolloutTable | None,
    user_id: str | None,
    rng: random.Random,
) -> list[str]:
    available = index.routable_versions(model)
    if rollouts is not None:
        return rollouts.ordered_versions(model, user_id, rng, available)
    spec = catalog.get(model)
    order = sorted(spec.versions, key=lambda v: (-v.weight, v.version)) if spec else []
    return [v.version for v in order if v.weight > 0 and v.version in available]


def decide(
    request: RequestView,
    catalog: Catalog,
    snapshot: SnapshotIndex | Sequence[Instance],
    rules: RuleSet | None = None,
    rollouts: RolloutTable | None = None,
    now: float | None = None,
    rng: random.Random | None = None,
    state: StrategyState | None = None,
    history: HistoryIndex | None = None,
) -> Decision:
    """Plan where one request goes; raises a `SelectionError` subclass if it can go nowhere.

    `history` is the refreshed outcome window (`routing.history`); the auto ranking adds its
    bounded adjustment, and a model with too little of it is scored on metadata alone.
    """
    now = time.time() if now is None else now
    rng = rng if rng is not None else random.Random()
    index = as_index(snapshot, now)

    # A follow-up ("and now in Go?") is read with the turns before it.
    def classified() -> Classification:
        return classify(request.prompt, request.has_images, context=request.context)

    # Rules read the task, and every other mode ranks by it; the named modes only report it.
    eager = bool(rules) or resolve_mode(request) not in NAMED_MODES
    cls = classified() if eager else None
    rule: Rule | None = (
        rules.first_match(facts_for(request, cls.task)) if rules and cls is not None else None
    )
    action = rule.action if rule else None

    choice: ModelChoice | None = None
    error: Exception | None = None
    try:
        choice = choose_models(
            request,
            cls,
            catalog,
            index,
            action.fallback if action else None,
            history=history,
        )
    except (ModelNotServed, NoCapableModel) as exc:
        if not (action and action.route_to):
            raise
        error = exc
    models = list(choice.models) if choice else []
    reason = choice.reason if choice else ""
    mode: Mode = choice.mode if choice else "auto"
    if action and action.route_to and index.is_served(action.route_to):
        models = [action.route_to, *(m for m in models if m != action.route_to)]
        reason = f"rule={rule.name} -> {action.route_to}" + (f"; {reason}" if reason else "")
    elif rule is not None:
        reason = f"rule={rule.name}; {reason}"
    if not models:
        raise error or ModelNotServed("no served model for this request")

    candidates: list[RouteCandidate] = []
    for model in models:
        spec = catalog.get(model)
        strategy: Strategy = (action.strategy if action and action.strategy else None) or (
            spec.strategy if spec else "least_outstanding"
        )
        pinned = action.version if action and model == action.route_to else None
        if pinned and pinned in index.routable_versions(model):
            versions = [pinned]
        else:
            versions = _versions_for(model, catalog, index, rollouts, request.user_id, rng)
        candidates.extend(RouteCandidate(model, v, strategy) for v in versions)
    if not candidates:
        raise ModelNotServed("no routable version of the selected models")
    first = candidates[0]
    reason = _reason_text(f"{reason} [{first.model}@{first.version} {first.strategy}]")
    return Decision(
        mode=mode,
        candidates=tuple(candidates),
        reason=reason,
        classify=cls if cls is not None else classified,
        rule=rule.name if rule else None,
        _index=index,
        _now=now,
        _rng=rng,
        _state=state if state is not None else StrategyState(),
    )


_ARROW = " → "


def _reason_text(text: str) -> str:
    """Header-safe text that keeps the arrow reasons use (the router sends it as UTF-8)."""
    return _ARROW.join(header_safe(part) for part in text.split(_ARROW))


class Alternative(BaseModel):
    model: str
    score: float


class Recommendation(BaseModel):
    """The `/models/recommend` answer (seed 003 shape plus `task`)."""

    recommended_model: str
    confidence: float
    alternatives: list[Alternative]
    reasoning: str
    task: Task
    score: float


MAX_ALTERNATIVES = 4


def recommend(
    request: RequestView,
    catalog: Catalog,
    snapshot: SnapshotIndex | Sequence[Instance],
    now: float | None = None,
    history: HistoryIndex | None = None,
) -> Recommendation:
    """Dry-run auto selection: the best model for this prompt and requirements, and runners-up.

    `confidence` is the classifier's probability for the task, the part of the choice that is a
    guess; the scores themselves are deterministic arithmetic over metadata and live health.
    """
    now = time.time() if now is None else now
    index = as_index(snapshot, now)
    cls = classify(request.prompt, request.has_images, context=request.context)
    ranked = auto_ranking(request, cls, catalog, index, limit=1 + MAX_ALTERNATIVES, history=history)
    if not ranked:
        raise NoCapableModel(
            f"no served model can take a {cls.task} request with these requirements"
        )
    if len(ranked) <= MAX_ALTERNATIVES:
        # Alternatives may include models that miss the caller's limits: the caller sees their
        # (lower) scores rather than an empty list.
        loose = request.model_copy(
            update={
                "requirements": Requirements(
                    prefer_speed=request.requirements.prefer_speed,
                    required_capabilities=request.requirements.required_capabilities,
                )
            }
        )
        seen = {s.model for s in ranked}
        extra = auto_ranking(
            loose, cls, catalog, index, limit=1 + MAX_ALTERNATIVES, history=history
        )
        ranked = ranked + [s for s in extra if s.model not in seen]
    best = ranked[0]
    spec = catalog.get(best.model)
    quality = spec.quality if spec else 0.0
    reasoning = (
        f"Task looks like {cls.task} ({cls.confidence:.2f}). {best.model} scores best: "
        f"{cls.task} specialization {best.spec:.2f}, quality {quality:.2f}, "
        f"about {best.est_seconds:.1f}s, ${best.est_cost:.4f} per request, "
        f"{best.healthy} healthy instance{'s' if best.healthy != 1 else ''}."
    )
    if best.relaxed:
        reasoning += " No model met every requirement, so they were relaxed."
    return Recommendation(
        recommended_model=best.model,
        confidence=round(cls.confidence, 4),
        alternatives=[
            Alternative(model=s.model, score=s.score) for s in ranked[1 : 1 + MAX_ALTERNATIVES]
        ],
        reasoning=reasoning,
        task=cls.task,
        score=best.score,
    )
