"""The instances one request may use, as the retry decision asks for them."""

from __future__ import annotations

from collections.abc import Callable

from router.dispatch.ports import InstancePicker, PassiveHealth
from routing.instances import Instance
from routing.outcome import Outcome
from routing.retry import Candidate, RequestRetries, Target


class AdmittedInstances:
    """The instances one request may use, best first, each admitted by the breaker once.

    `decide` asks for a candidate's instances several times; admitting (which claims a
    half-open probe) must happen once per instance, so admissions are remembered here.
    """

    def __init__(
        self,
        pick: InstancePicker,
        health: PassiveHealth,
        usable: Callable[[Instance], bool],
        request: RequestRetries,
        has_room: Callable[[Instance], bool] = lambda _inst: True,
    ) -> None:
        self._pick = pick
        self._health = health
        self._usable = usable
        self._request = request
        self._has_room = has_room
        self.held: dict[str, tuple[Instance, float]] = {}
        self._refused: set[str] = set()

    def __call__(self, candidate: Candidate) -> list[str]:
        tried = self._request.tried()
        for iid, (inst, _) in self.held.items():
            if iid not in tried and (inst.model, inst.version) == (
                candidate.model,
                candidate.version,
            ):
                return [iid]
        exclude = tried | self._refused | set(self.held)
        while (inst := self._pick(candidate.model, candidate.version, exclude)) is not None:
            if not self._has_room(inst):
                # At its concurrency limit: another copy, or the next candidate, takes it.
                exclude.add(inst.instance_id)
                continue
            timeout = self._health.admit(inst) if self._usable(inst) else None
            if timeout is None:
                self._refused.add(inst.instance_id)
                exclude.add(inst.instance_id)
                continue
            self.held[inst.instance_id] = (inst, timeout)
            return [inst.instance_id]
        return []

    def take(self, target: Target) -> tuple[Instance, float]:
        return self.held.pop(target.instance_id)

    def release_unused(self) -> None:
        # A probe that was claimed but never sent: the breaker may let the next request probe.
        for inst, timeout in self.held.values():
            if timeout > 0:
                self._health.record(inst, Outcome.cancelled, 0.0)
        self.held.clear()
