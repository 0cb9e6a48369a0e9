"""Indexes over the instance snapshot: instances by (model, version) and live health per model.

The router refreshes its snapshot from the instances table on a short TTL; building this index
once per refresh keeps each routing decision from re-scanning every instance. The health figures
are as of `built_at`; the instance finally picked is re-checked against the request's `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from routing.instances import Instance


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """Live figures for one model over its routable instances (all versions)."""

    model: str
    routable: int
    total: int
    mean_in_flight: float
    mean_latency_ms: float
    tokens_per_second: float


def group_by_model_version(instances: Iterable[Instance]) -> dict[tuple[str, str], list[Instance]]:
    """Instances keyed by (model, version), in snapshot order."""
    groups: dict[tuple[str, str], list[Instance]] = {}
    for inst in instances:
        groups.setdefault((inst.model, inst.version), []).append(inst)
    return groups


def _health(model: str, instances: Sequence[Instance], now: float) -> ModelHealth:
    live = [i for i in instances if i.is_routable(now)]
    if not live:
        return ModelHealth(model, 0, len(instances), 0.0, 0.0, 0.0)
    lat = [i.latency_ewma_ms for i in live if i.latency_ewma_ms > 0]
    tps = [i.tokens_per_second for i in live if i.tokens_per_second > 0]
    return ModelHealth(
        model=model,
        routable=len(live),
        total=len(instances),
        mean_in_flight=sum(i.in_flight + i.queue_depth for i in live) / len(live),
        mean_latency_ms=sum(lat) / len(lat) if lat else 0.0,
        tokens_per_second=sum(tps) / len(tps) if tps else 0.0,
    )


class SnapshotIndex:
    """A snapshot grouped for routing; cheap to query, rebuilt when the snapshot changes."""

    __slots__ = ("_by_model", "_by_mv", "_health", "_routable_versions", "built_at", "instances")

    def __init__(self, instances: Sequence[Instance], now: float) -> None:
        self.instances: tuple[Instance, ...] = tuple(instances)
        self.built_at = now
        self._by_mv = group_by_model_version(self.instances)
        by_model: dict[str, list[Instance]] = {}
        for inst in self.instances:
            by_model.setdefault(inst.model, []).append(inst)
        self._by_model = by_model
        self._health = {m: _health(m, group, now) for m, group in by_model.items()}
        self._routable_versions: dict[str, frozenset[str]] = {}
        for (model, version), group in self._by_mv.items():
            if any(i.is_routable(now) for i in group):
                prev = self._routable_versions.get(model, frozenset())
                self._routable_versions[model] = prev | {version}

    def instances_of(self, model: str, version: str | None = None) -> list[Instance]:
        if version is None:
            return self._by_model.get(model, [])
        return self._by_mv.get((model, version), [])

    def health(self, model: str) -> ModelHealth:
        return self._health.get(model) or ModelHealth(model, 0, 0, 0.0, 0.0, 0.0)

    def routable_versions(self, model: str) -> frozenset[str]:
        return self._routable_versions.get(model, frozenset())

    def is_served(self, model: str) -> bool:
        return self.health(model).routable > 0


def as_index(snapshot: SnapshotIndex | Sequence[Instance], now: float) -> SnapshotIndex:
    return snapshot if isinstance(snapshot, SnapshotIndex) else SnapshotIndex(snapshot, now)
