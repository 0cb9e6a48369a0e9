"""The router's single door into the routing library: request view in, plan and picks out.

It also owns the run-time routing configuration that operators change without a redeploy
(version weights, per-model strategies): changes are written to the instances table's config
items and every router process applies them on its next snapshot refresh.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

from router.canary_watch import CanaryWatch
from router.errors import APIError, BadRequest, NotFound, ServiceUnavailable, Unprocessable
from router.metrics import RouterMetrics
from router.outcomes import OutcomeWindow
from router.snapshot import Snapshot, SnapshotStore
from routing import engine
from routing.catalog import STRATEGIES, Catalog
from routing.classifier import classify
from routing.instances import Instance
from routing.request_view import RequestView
from routing.rollouts import RolloutError, RolloutTable
from routing.rules import RuleSet, load_rules
from routing.selection import ModelNotServed, NoCapableModel, SelectionError
from routing.snapshot import SnapshotIndex
from routing.strategies import StrategyState, pick_instance

ROLLOUT_PREFIX = "rollout#"
INDEX_MAX_AGE_S = 1.0
STRATEGY_PREFIX = "strategy#"


def selection_error(exc: SelectionError) -> APIError:
    code = getattr(exc, "code", "selection_error")
    status = getattr(exc, "status", 503)
    if status == 404:
        return NotFound(str(exc), code=code)
    return ServiceUnavailable(str(exc), code=code, headers={"Retry-After": "1"})


class RoutingFacade:
    def __init__(
        self,
        catalog: Catalog,
        store: SnapshotStore,
        *,
        routing_config: dict[str, Any] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_catalog = catalog
        self.catalog = catalog
        self._store = store
        config = routing_config or {}
        self.rules: RuleSet | None = (
            load_rules(config["rules"], catalog) if config.get("rules") else None
        )
        self.rollouts = RolloutTable(catalog)
        self._rng = rng or random.Random()
        self._state = StrategyState()
        self._clock = clock
        self._applied_config: dict[str, dict[str, Any]] | None = None
        self._index: tuple[Snapshot, SnapshotIndex] | None = None
        # Recent outcomes per (model, version, task): the record step feeds it, scoring reads
        # its once-a-second snapshot, the canary watch compares versions with it.
        self.outcomes = OutcomeWindow(clock=clock)
        self.canary_watch = CanaryWatch(self.outcomes, store, RouterMetrics(), clock=clock)
        self.canary_watch.attach()

    # -- run-time configuration ----------------------------------------------------------------
    def sync(self, snap: Snapshot) -> None:
        """Apply rollout and strategy changes found in the table (cheap when unchanged)."""
        if snap.config == self._applied_config:
            return
        strategies = {
            name[len(STRATEGY_PREFIX) :]: value.get("strategy")
            for name, value in snap.config.items()
            if name.startswith(STRATEGY_PREFIX)
        }
        models = []
        for spec in self.base_catalog.models:
            wanted = strategies.get(spec.id)
            if wanted in STRATEGIES and wanted != spec.strategy:
                spec = spec.model_copy(update={"strategy": wanted})
            models.append(spec)
        self.catalog = Catalog(models=tuple(models))
        table = RolloutTable(self.base_catalog)
        for name, value in snap.config.items():
            if not name.startswith(ROLLOUT_PREFIX):
                continue
            model = name[len(ROLLOUT_PREFIX) :]
            try:
                for version in value.get("weights", {}):
                    if version not in table.versions(model):
                        table.add_version(model, version, 0.0)
                table.set_weights(model, value.get("weights", {}))
            except RolloutError:
                continue  # a stale item for a model no longer configured
        self.rollouts = table
        self._applied_config = snap.config

    def live_catalog(self, snap: Snapshot) -> Catalog:
        """The catalog every view shows (`/v1/models`, admin, routing): with run-time changes."""
        self.sync(snap)
        return self.catalog

    def change_rollout(self, model: str, change: dict[str, Any]) -> dict[str, float]:
        """Validate an admin change on a copy of the table; returns the new weights."""
        if self.base_catalog.get(model) is None:
            raise NotFound(f"model '{model}' is not served here", code="model_not_found")
        table = RolloutTable(self.base_catalog)
        for version, weight in self.rollouts.weights(model).items():
            if version not in table.versions(model):
                table.add_version(model, version, weight)
        table.set_weights(model, self.rollouts.weights(model))
        try:
            for version in change.get("add_versions", []):
                if version not in table.versions(model):
                    table.add_version(model, version, 0.0)
            if "weights" in change:
                for version in change["weights"]:
                    if version not in table.versions(model):
                        table.add_version(model, version, 0.0)
                return table.set_weights(model, change["weights"])
            if "canary" in change:
                c = change["canary"]
                for version in (c["stable"], c["canary"]):
                    if version not in table.versions(model):
                        table.add_version(model, version, 0.0)
                return table.canary(model, c["stable"], c["canary"], float(c["percent"]))
            if "switch" in change:
                return table.switch(model, change["switch"])
            if "rollback" in change:
                return table.rollback(model, change["rollback"])
        except (RolloutError, KeyError, TypeError, ValueError) as exc:
            raise BadRequest(f"invalid rollout change: {exc}", code="invalid_rollout") from None
        raise BadRequest("give one of: weights, canary, switch, rollback", code="invalid_rollout")

    # -- per request ---------------------------------------------------------------------------
    def index(self, snap: Snapshot) -> SnapshotIndex:
        """The snapshot grouped for routing, built once per snapshot (and at most a second
        old), not per request: with 1,000 instances a build costs about 1 ms. This process's
        own load is overlaid where it matters, on the few instances `pick` chooses among."""
        now = self._clock()
        cached = self._index
        if cached is not None and cached[0] is snap and now - cached[1].built_at < INDEX_MAX_AGE_S:
            return cached[1]
        index = SnapshotIndex(snap.instances, now)
        self._index = (snap, index)
        return index

    def plan(
        self, view: RequestView, snap: Snapshot, *, manual_not_served_404: bool = False
    ) -> engine.Decision:
        """`manual_not_served_404`: seed 003's `/inference` contract, where a manual model
        with no healthy instance is always a 404; OpenAI clients get a 503 with Retry-After
        instead when the model's instances exist but are out of rotation, since they retry
        that and not a 404."""
        self.sync(snap)
        manual = isinstance(view.model, str) and view.model != "auto" and not view.auto_select
        try:
            return engine.decide(
                view,
                self.catalog,
                self.index(snap),
                self.rules,
                self.rollouts,
                self._clock(),
                self._rng,
                self._state,
                history=self.outcomes.history(),
            )
        except SelectionError as exc:
            if isinstance(exc, NoCapableModel) and not self._configured_can_serve(view):
                # No configured model could ever take it: retrying will not help.
                raise Unprocessable(str(exc), code="no_capable_model") from None
            if (
                manual
                and not manual_not_served_404
                and isinstance(exc, ModelNotServed)
                and exc.model
            ):
                outage = self._out_of_rotation(exc.model, snap)
                if outage is not None:
                    raise outage from None
            raise selection_error(exc) from None

    def _configured_can_serve(self, view: RequestView) -> bool:
        needs = set(view.requirements.required_capabilities)
        if view.has_images:
            needs.add("vision")
        tokens = view.estimated_tokens()
        return any(
            needs <= set(spec.capabilities) and tokens < spec.context_window
            for spec in self.catalog.models
        )

    def _out_of_rotation(self, model: str, snap: Snapshot) -> APIError | None:
        """A 503 for a model whose instances exist but are all out of rotation right now.

        404 tells a client the model is not deployed, and clients do not retry it; when every
        instance is ejected or unhealthy the outage is temporary, so the client gets 503 with
        a Retry-After of when the first ejection ends.
        """
        mine = [i for i in snap.instances if i.model == model]
        if not mine:
            return None
        now = self._clock()
        ends = [i.ejected_until - now for i in mine if i.ejected_until > now]
        retry_after = max(1, math.ceil(min(ends))) if ends else 1
        return ServiceUnavailable(
            f"model '{model}' has no healthy instance right now; retry later",
            code="model_not_served",
            headers={
                "Retry-After": str(retry_after),
                "x-motherfluxer-route-reason": (
                    f"manual: model={model} (0 of {len(mine)} instances in rotation)"
                ),
            },
        )

    def pick(
        self, decision: engine.Decision, model: str, version: str | None, exclude: set[str]
    ) -> Instance | None:
        """The next instance for one (model, version) of the plan."""
        for candidate in decision.candidates:
            if candidate.model == model and candidate.version == version:
                index = self.index(self._store.current())
                pool = self._store.with_local_load(tuple(index.instances_of(model, version)))
                # Instances past their ejection are offered too; the breaker admits the probe.
                return pick_instance(
                    candidate.strategy,
                    pool,
                    self._clock(),
                    self._rng,
                    self._state,
                    exclude,
                    allow_half_open=True,
                )
        return None

    def recommend(self, view: RequestView, snap: Snapshot) -> dict[str, Any]:
        self.sync(snap)
        try:
            result = engine.recommend(
                view, self.catalog, self.index(snap), self._clock(), self.outcomes.history()
            )
        except NoCapableModel as exc:
            # Still a useful answer: what the prompt is, and that nothing served can take it.
            cls = classify(view.prompt, view.has_images, context=view.context)
            return {
                "recommended_model": None,
                "confidence": round(cls.confidence, 4),
                "alternatives": [],
                "reasoning": f"Task looks like {cls.task} ({cls.confidence:.2f}). {exc}.",
                "task": cls.task,
                "score": None,
            }
        except SelectionError as exc:
            raise selection_error(exc) from None
        return result.model_dump()

    def rollout_view(self, model: str, snap: Snapshot) -> dict[str, Any]:
        self.sync(snap)
        return {"weights": self.rollouts.weights(model)}

    def rollout_states(self, snap: Snapshot) -> tuple[dict[str, Any], dict[str, Any]]:
        """(models on canary -> their canary block, models rolled back automatically -> when,
        which version and why), as the shared rollout items hold them."""
        canaries: dict[str, Any] = {}
        rollbacks: dict[str, Any] = {}
        for name, value in snap.config.items():
            if not name.startswith(ROLLOUT_PREFIX):
                continue
            model = name[len(ROLLOUT_PREFIX) :]
            if isinstance(value.get("canary"), dict):
                canaries[model] = value["canary"]
            if isinstance(value.get("auto_rollback"), dict):
                rollbacks[model] = value["auto_rollback"]
        return canaries, rollbacks
