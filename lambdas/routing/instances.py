"""The router's view of running model instances, as read from the instances table."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Literal

InstanceKind = Literal["openai", "sagemaker", "external"]
InstanceStatus = Literal["starting", "healthy", "unhealthy", "draining"]
BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class Instance:
    """One running copy of one version of one model.

    `endpoint` is a base URL for `openai` instances and an endpoint name for `sagemaker` ones;
    `external` ones (providers) name theirs in `tags["provider"]` and may leave it empty.
    `rev` is the optimistic-concurrency version attribute of the stored item.
    """

    instance_id: str
    model: str
    version: str
    kind: InstanceKind
    endpoint: str
    status: InstanceStatus = "healthy"
    last_heartbeat: float = 0.0
    in_flight: int = 0
    queue_depth: int = 0
    latency_ewma_ms: float = 0.0
    tokens_per_second: float = 0.0
    weight: float = 1.0
    rev: int = 0
    breaker_state: BreakerState = "closed"
    breaker_opened_at: float = 0.0
    consecutive_failures: int = 0
    ejection_count: int = 0
    ejected_until: float = 0.0
    lease_seconds: float = 30.0
    tags: dict[str, str] = field(default_factory=dict)

    def is_routable(self, now: float) -> bool:
        """Healthy, heartbeat within its lease, and not inside an ejection.

        An open breaker whose ejection time is over stays routable: the router's breaker
        admission then lets exactly the probe requests through (routing.breaker.admit).
        """
        if self.status != "healthy":
            return False
        if self.ejected_until > now:
            return False
        if self.breaker_state == "open" and self.ejected_until <= 0:
            return False
        return not (self.lease_seconds > 0 and now - self.last_heartbeat > self.lease_seconds)

    def with_local_load(
        self, in_flight: int, latency_ewma_ms: float, ejected_until: float
    ) -> Instance:
        """A copy with what this process measures itself overlaid. It is made on every pick;
        `dataclasses.replace` would re-run the whole frozen `__init__`, about three times the
        cost of copying the slots."""
        new = object.__new__(Instance)
        for name in _SLOTS:
            _set(new, name, getattr(self, name))
        _set(new, "in_flight", in_flight)
        _set(new, "latency_ewma_ms", latency_ewma_ms)
        _set(new, "ejected_until", ejected_until)
        return new


_SLOTS = tuple(f.name for f in fields(Instance))
_set = object.__setattr__
