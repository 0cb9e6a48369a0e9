"""Self-hosted models are priced on the throughput their instances report, so the price
follows the fleet: recomputed whenever the instance snapshot changes."""

from __future__ import annotations

from typing import Any

from accounts.pricing import measured_tokens_per_second, with_measured_speed
from router.snapshot import Snapshot
from routing.catalog import Catalog


class MeasuredPrices:
    def __init__(self) -> None:
        self._priced_at = -1.0

    def refresh(self, snap: Snapshot, catalog: Catalog, prices: dict[Any, Any]) -> None:
        if snap.loaded_at == self._priced_at:
            return
        self._priced_at = snap.loaded_at
        for spec in catalog.models:
            if spec.instance_hour_usd is None:
                continue
            speed = measured_tokens_per_second(snap.instances, spec.id)
            key = (spec.id, None)
            updated = with_measured_speed(prices.get(key), speed)
            if updated is not None:
                prices[key] = updated
