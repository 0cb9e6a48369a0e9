"""Selection modes (seed 003): which models a request may go to, in order.

* manual — `model: "<id>"`: that model only; unknown id -> `UnknownModel`, known but with no
  routable instance -> `ModelNotServed` (the router answers 404 for manual requests).
* auto — `auto_select: true`, `model: "auto"` or nothing: classifier task + scoring.
* hybrid — `preferred_model` with `fallback_mode`: `"auto"` (then the auto ranking, also when
  the preferred id is unknown), `"none"` (preferred only) or an explicit list of model ids.
* list — `model: ["a", "b"]` (OpenAI-style preference order): served models in that order.

Errors the router maps to statuses: `UnknownModel` 404 (a hybrid request with
`fallback_mode: "auto"` falls back instead), `ModelNotServed` 404 in manual mode and
503 otherwise, `NoCapableModel` 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from routing.catalog import Catalog
from routing.classifier import Classification
from routing.history import HistoryIndex
from routing.request_view import RequestView
from routing.scoring import ScoredModel, describe, score_models
from routing.snapshot import SnapshotIndex

Mode = Literal["manual", "auto", "hybrid", "list"]
# The route reason of a hybrid request whose preferred model is not in the catalog.
UNKNOWN_PREFERRED = "preferred {model!r} unknown → auto"
# Auto mode keeps a few runners-up so a failed model can fail over without a second decision.
MAX_AUTO_MODELS = 3


class SelectionError(Exception):
    code = "selection_error"
    status = 503

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.model = model


class UnknownModel(SelectionError):
    code = "model_not_found"
    status = 404


class ModelNotServed(SelectionError):
    code = "model_not_served"

    def __init__(self, message: str, model: str | None = None, manual: bool = False) -> None:
        super().__init__(message, model)
        self.status = 404 if manual else 503


class NoCapableModel(SelectionError):
    code = "no_capable_model"
    status = 503


@dataclass(frozen=True, slots=True)
class ModelChoice:
    mode: Mode
    models: tuple[str, ...]
    reason: str
    scored: tuple[ScoredModel, ...] = ()


def resolve_mode(request: RequestView) -> Mode:
    if isinstance(request.model, list):
        return "list"
    if request.model and request.model != "auto":
        return "manual"
    if request.preferred_model:
        return "hybrid"
    return "auto"


def _require_known(catalog: Catalog, model: str) -> None:
    if catalog.get(model) is None:
        raise UnknownModel(f"unknown model {model!r}", model)


def auto_ranking(
    request: RequestView,
    cls: Classification,
    catalog: Catalog,
    index: SnapshotIndex,
    only: list[str] | None = None,
    limit: int | None = None,
    history: HistoryIndex | None = None,
    keep_demoted: bool = False,
) -> list[ScoredModel]:
    return score_models(
        catalog,
        cls.task,
        request.requirements,
        request.estimated_tokens(),
        request.max_tokens,
        index,
        has_images=request.has_images,
        only=only,
        limit=limit,
        goal=request.goal,
        history=history,
        keep_demoted=keep_demoted,
    )


def _demoted(ranked: list[ScoredModel]) -> str:
    """`; demoted m (history: ...)` for the best runner-up that history pushed down, if any:
    the reason then says why a model with poor recent outcomes is not the one chosen."""
    for other in ranked[1:]:
        if other.history < 0:
            return f"; demoted {other.model} ({other.history_reason})"
    return ""


def _auto(
    request: RequestView,
    cls: Classification,
    catalog: Catalog,
    index: SnapshotIndex,
    history: HistoryIndex | None = None,
) -> ModelChoice:
    # Every candidate is scored, but only the top few (plus the best one history marked down,
    # for the reason) become results: building a ScoredModel for each of 50 models was the
    # decision's hot spot.
    ranked = auto_ranking(
        request, cls, catalog, index, limit=MAX_AUTO_MODELS, history=history, keep_demoted=True
    )
    if not ranked:
        raise NoCapableModel(
            f"no served model can take a {cls.task} request with these requirements"
        )
    best = ranked[0]
    models = [s.model for s in ranked[:MAX_AUTO_MODELS]]
    # The configured fallback of the winner is honoured even when it scored lower.
    spec = catalog.get(best.model)
    if spec and spec.fallback and spec.fallback not in models and index.is_served(spec.fallback):
        models.append(spec.fallback)
    reason = (
        f"auto: task={cls.task}({cls.confidence:.2f}) -> {best.model} score={best.score:.2f} "
        f"({describe(best, request.requirements, request.goal_source)})"
    ) + _demoted(ranked)
    return ModelChoice("auto", tuple(models), reason, tuple(ranked[:MAX_AUTO_MODELS]))


NAMED_MODES: tuple[Mode, ...] = ("manual", "list")


def choose_models(
    request: RequestView,
    cls: Classification | None,
    catalog: Catalog,
    index: SnapshotIndex,
    fallback_override: tuple[str, ...] | None = None,
    history: HistoryIndex | None = None,
) -> ModelChoice:
    """Ordered model ids for the request's mode (versions and instances come later).

    `cls` may be None for the modes that name their models (`NAMED_MODES`): they never read it.
    """
    mode = resolve_mode(request)
    if cls is None and mode not in NAMED_MODES:
        raise ValueError(f"{mode} selection needs the prompt's classification")
    if mode == "manual":
        model = str(request.model)
        _require_known(catalog, model)
        if not index.is_served(model):
            raise ModelNotServed(f"model {model!r} is not served right now", model, manual=True)
        models = [model, *(m for m in fallback_override or () if m != model and index.is_served(m))]
        h = index.health(model).routable
        return ModelChoice("manual", tuple(models), f"manual: model={model} ({h} healthy)")
    if mode == "list":
        wanted = list(dict.fromkeys(request.model or []))
        for model in wanted:
            _require_known(catalog, model)
        served = [m for m in wanted if index.is_served(m)]
        served += [m for m in fallback_override or () if m not in served and index.is_served(m)]
        if not served:
            raise ModelNotServed(f"none of {wanted} is served right now")
        skipped = len(wanted) - len(served)
        reason = f"list: {len(wanted)} models -> {served[0]}" + (
            f" ({skipped} not served)" if skipped else ""
        )
        return ModelChoice("list", tuple(served), reason)
    if mode == "hybrid":
        preferred = str(request.preferred_model)
        fallback = request.fallback_mode
        if fallback_override is not None:
            fallback = list(fallback_override)
        if fallback == "auto" and catalog.get(preferred) is None:
            # Seed 003: "try preferred model first, fall back to auto-selection if
            # unavailable"; a model this router does not know is unavailable too.
            auto = _auto(request, cls, catalog, index, history)
            return ModelChoice(
                "hybrid",
                auto.models,
                f"{UNKNOWN_PREFERRED.format(model=preferred)}; {auto.reason}",
                auto.scored,
            )
        _require_known(catalog, preferred)
        head = [preferred] if index.is_served(preferred) else []
        state = "served" if head else "not served"
        if fallback == "none":
            if not head:
                raise ModelNotServed(f"preferred model {preferred!r} is not served", preferred)
            return ModelChoice("hybrid", tuple(head), f"hybrid: preferred={preferred} served")
        if isinstance(fallback, list):
            for model in fallback:
                _require_known(catalog, model)
            rest = [m for m in dict.fromkeys(fallback) if m != preferred and index.is_served(m)]
            models = head + rest
            if not models:
                raise ModelNotServed(
                    f"neither {preferred!r} nor its fallbacks are served", preferred
                )
            return ModelChoice(
                "hybrid",
                tuple(models),
                f"hybrid: preferred={preferred} {state} -> {models[0]} (fallback list)",
            )
        try:
            auto = _auto(request, cls, catalog, index, history)
        except NoCapableModel:
            if not head:
                raise
            return ModelChoice("hybrid", tuple(head), f"hybrid: preferred={preferred} served")
        models = head + [m for m in auto.models if m != preferred]
        return ModelChoice(
            "hybrid",
            tuple(models),
            f"hybrid: preferred={preferred} {state}; fallback " + auto.reason,
            auto.scored,
        )
    choice = _auto(request, cls, catalog, index, history)
    if fallback_override:
        extra = [m for m in fallback_override if m not in choice.models and index.is_served(m)]
        choice = ModelChoice("auto", choice.models + tuple(extra), choice.reason, choice.scored)
    return choice
