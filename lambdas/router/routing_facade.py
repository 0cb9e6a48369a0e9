"""The router's single door into the routing library: request view in, plan and picks out."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from routing.catalog import Catalog
from routing.instances import Instance

from router.errors import NotFound, ServiceUnavailable
from router.snapshot import Snapshot, SnapshotStore


@dataclass(slots=True)
class RequestView:
    text: str
    has_images: bool = False
    model: str | list[str] | None = None
    auto_select: bool = False
    preferred_model: str | None = None
    fallback_mode: str | list[str] | None = None
    requirements: dict[str, Any] = field(default_factory=dict)
    max_tokens: int | None = None
    stream: bool = False
    user_id: str | None = None
    tier: str = "demo"
    needs_tools: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    candidates: list[tuple[str, str | None]]
    reason: str
    task: str | None = None
    confidence: float | None = None
    strategy_overrides: dict[str, str] = field(default_factory=dict)


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
        self.catalog = catalog
        self._store = store
        self._config = routing_config or {}
        self._rng = rng or random.Random()
        self._clock = clock

    def routable(self, snap: Snapshot, model: str, version: str | None = None) -> list[Instance]:
        now = self._clock()
        return [
            i
            for i in snap.instances
            if i.model == model and (version is None or i.version == version) and i.is_routable(now)
        ]

    def plan(self, view: RequestView, snap: Snapshot) -> Plan:
        if isinstance(view.model, str) and view.model not in ("auto", "") and not view.auto_select:
            if self.catalog.get(view.model) is None:
                raise NotFound(f"model '{view.model}' is not served here", code="model_not_found")
            if not self.routable(snap, view.model):
                raise NotFound(
                    f"model '{view.model}' has no healthy instance", code="model_not_available"
                )
            return Plan(candidates=[(view.model, None)], reason=f"manual: {view.model}")
        ids = [m.id for m in self.catalog.models if self.routable(snap, m.id)]
        if not ids:
            raise ServiceUnavailable(
                "no healthy instance can serve this request right now", headers={"Retry-After": "1"}
            )
        return Plan(candidates=[(m, None) for m in ids], reason=f"auto: {ids[0]}")

    def pick(
        self,
        snap: Snapshot,
        model: str,
        version: str | None,
        exclude: set[str],
        view: RequestView | None = None,
    ) -> Instance | None:
        options = [i for i in self.routable(snap, model, version) if i.instance_id not in exclude]
        if not options:
            return None
        options = list(self._store.with_local_load(tuple(options)))
        return min(options, key=lambda i: (i.in_flight, i.instance_id))

    def rollout_view(self, model: str, snap: Snapshot) -> dict[str, Any]:
        spec = self.catalog.get(model)
        weights = {v.version: v.weight for v in spec.versions} if spec else {}
        return {"weights": weights, "source": "catalog"}
