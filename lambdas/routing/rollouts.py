"""Version rollouts: traffic weights between versions of one model, changed at run time.

Canary, blue-green and rollback are all weight changes: a canary gives one version a percentage,
blue-green and rollback give one version everything. A request with a user id lands in a stable
bucket (blake2b of salt, model and user id, modulo 10,000), so the same user keeps seeing the same
version for as long as the weights stay put (A/B stickiness); a request without a user id draws
a bucket from the injected RNG. Updates swap an immutable mapping, so a reader never sees half
of a change.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from routing.catalog import Catalog

BUCKETS = 10_000


class RolloutError(ValueError):
    """A rejected weight change (unknown model or version, bad weights)."""


def bucket_for(user_id: str, model: str, salt: str = "") -> int:
    """The user's stable bucket in [0, BUCKETS) for this model's rollout."""
    digest = hashlib.blake2b(f"{salt}\x1f{model}\x1f{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class RolloutTable:
    """Per-model version weights, seeded from the catalog and updated by admin calls."""

    def __init__(self, catalog: Catalog, salt: str = "motherfluxer") -> None:
        self.salt = salt
        self._versions: dict[str, frozenset[str]] = {}
        table: dict[str, Mapping[str, float]] = {}
        for spec in catalog.models:
            self._versions[spec.id] = frozenset(v.version for v in spec.versions)
            weights = {v.version: v.weight for v in spec.versions}
            if sum(weights.values()) <= 0:
                weights = dict.fromkeys(weights, 1.0)
            table[spec.id] = MappingProxyType(weights)
        self._table: Mapping[str, Mapping[str, float]] = MappingProxyType(table)

    # -- reading -------------------------------------------------------------------------------

    def weights(self, model: str) -> dict[str, float]:
        return dict(self._table.get(model, {}))

    def versions(self, model: str) -> frozenset[str]:
        return self._versions.get(model, frozenset())

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {m: dict(w) for m, w in self._table.items()}

    def assign(
        self,
        model: str,
        user_id: str | None,
        rng: random.Random,
        available: Iterable[str] | None = None,
    ) -> str | None:
        """The version this request goes to, among `available` versions if given.

        Versions left out of `available` (no routable instance) are skipped and their share is
        spread over the rest in proportion, so a user's bucket only moves when it must.
        """
        weights = self._table.get(model)
        if not weights:
            return None
        allowed = set(available) if available is not None else None
        live = [
            (v, w)
            for v, w in sorted(weights.items())
            if w > 0 and (allowed is None or v in allowed)
        ]
        if not live:
            return None
        if len(live) == 1:
            return live[0][0]  # one version: every bucket lands on it
        total = sum(w for _, w in live)
        bucket = bucket_for(user_id, model, self.salt) if user_id else rng.randrange(BUCKETS)
        point = bucket / BUCKETS * total
        for version, w in live:
            point -= w
            if point < 0:
                return version
        return live[-1][0]

    def ordered_versions(
        self,
        model: str,
        user_id: str | None,
        rng: random.Random,
        available: Iterable[str] | None = None,
    ) -> list[str]:
        """The assigned version first, then the other weighted versions by weight (failover)."""
        allowed = set(available) if available is not None else None
        first = self.assign(model, user_id, rng, allowed)
        if first is None:
            return []
        rest = sorted(
            (
                (w, v)
                for v, w in self._table[model].items()
                if w > 0 and v != first and (allowed is None or v in allowed)
            ),
            key=lambda wv: (-wv[0], wv[1]),
        )
        return [first, *(v for _, v in rest)]

    # -- changing ------------------------------------------------------------------------------

    def _check_model(self, model: str) -> frozenset[str]:
        if model not in self._versions:
            raise RolloutError(f"unknown model {model!r}")
        return self._versions[model]

    def add_version(self, model: str, version: str, weight: float = 0.0) -> None:
        """Make a version known (for example one registered after start-up); weight 0 by default."""
        self._check_model(model)
        if not version or len(version) > 64:
            raise RolloutError("version must be 1..64 characters")
        self._versions = {**self._versions, model: self._versions[model] | {version}}
        current = dict(self._table[model])
        current.setdefault(version, 0.0)
        if weight:
            current[version] = weight
        self._replace(model, current)

    def set_weights(self, model: str, weights: Mapping[str, float]) -> dict[str, float]:
        """Replace a model's weights; versions not named get weight 0."""
        known = self._check_model(model)
        unknown = sorted(set(weights) - known)
        if unknown:
            raise RolloutError(f"model {model!r} has no version(s) {unknown}")
        clean: dict[str, float] = {}
        for version, w in weights.items():
            w = float(w)
            if not math.isfinite(w) or w < 0:
                raise RolloutError(f"weight for {version!r} must be a finite number >= 0")
            clean[version] = w
        if sum(clean.values()) <= 0:
            raise RolloutError("at least one version needs a positive weight")
        full = {v: clean.get(v, 0.0) for v in sorted(known)}
        self._replace(model, full)
        return full

    def canary(self, model: str, stable: str, canary: str, percent: float) -> dict[str, float]:
        """Send `percent` (0..100) of traffic to `canary` and the rest to `stable`."""
        if not 0 <= percent <= 100:
            raise RolloutError("canary percent must be between 0 and 100")
        if stable == canary:
            raise RolloutError("canary and stable versions must differ")
        return self.set_weights(model, {stable: 100.0 - percent, canary: float(percent)})

    def switch(self, model: str, version: str) -> dict[str, float]:
        """Blue-green switch: all traffic to `version` at once."""
        return self.set_weights(model, {version: 100.0})

    def rollback(self, model: str, version: str) -> dict[str, float]:
        """Instant rollback: all traffic back to the known-good `version`."""
        return self.switch(model, version)

    def _replace(self, model: str, weights: dict[str, float]) -> None:
        self._table = MappingProxyType({**self._table, model: MappingProxyType(weights)})
