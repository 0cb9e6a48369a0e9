"""Readiness: the router is ready once every model it serves can be routed to.

A load balancer, Lambda Web Adapter or a start-up script that trusts `/health` then never
sends a request the router must refuse with "model not served". The models that must be
ready are the catalog's, or the `readiness.models` list of the routing config when a stage
serves only some of them (e.g. models that scale to zero are left out).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from routing.catalog import Catalog
from routing.snapshot import SnapshotIndex


@dataclass(frozen=True, slots=True)
class ModelReadiness:
    model: str
    routable_instances: int
    versions: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return self.routable_instances > 0 and bool(self.versions)


@dataclass(frozen=True, slots=True)
class Readiness:
    models: tuple[ModelReadiness, ...]

    @property
    def ready(self) -> bool:
        return all(m.ready for m in self.models)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            m.model: {
                "ready": m.ready,
                "routable_instances": m.routable_instances,
                "versions": list(m.versions),
            }
            for m in self.models
        }


def required_models(catalog: Catalog, routing_config: dict[str, Any]) -> list[str]:
    wanted = (routing_config.get("readiness") or {}).get("models")
    if isinstance(wanted, list):
        return [m for m in wanted if catalog.get(m) is not None]
    return catalog.ids


def readiness(models: Iterable[str], index: SnapshotIndex) -> Readiness:
    return Readiness(
        tuple(
            ModelReadiness(
                model=m,
                routable_instances=index.health(m).routable,
                versions=tuple(sorted(index.routable_versions(m))),
            )
            for m in models
        )
    )
