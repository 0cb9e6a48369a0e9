"""What the dispatcher needs from the rest of the router: instance picks, passive health and
the retry governor (implemented in `router.routing_facade` and `router.passive`)."""

from __future__ import annotations

from typing import Protocol

from routing.instances import Instance
from routing.outcome import Outcome
from routing.retry import (
    AttemptRecord,
    AvailableInstances,
    RequestRetries,
    Retry,
    RetryPolicy,
    Stop,
)


class InstancePicker(Protocol):
    def __call__(self, model: str, version: str, exclude: set[str]) -> Instance | None: ...


class PassiveHealth(Protocol):
    def admit(self, instance: Instance) -> float | None:
        """None to skip the instance, else the probe timeout this attempt must respect (0:
        not a probe)."""

    def record(self, instance: Instance, outcome: Outcome, latency_ms: float) -> None: ...

    def cool_down(self, instance: Instance, seconds: float) -> None: ...


class RetryGovernor(Protocol):
    policy: RetryPolicy

    def now(self) -> float: ...

    def begin(self) -> None: ...

    def end(self) -> None: ...

    def decide(
        self, request: RequestRetries, last: AttemptRecord, available: AvailableInstances
    ) -> Retry | Stop: ...

    def retry_done(self, succeeded: bool = False) -> None: ...
