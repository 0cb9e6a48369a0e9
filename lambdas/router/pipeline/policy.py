"""The per-request policy seam: who is calling, may they, what it cost.

`OpenPolicy` is the bare router's (everyone is anonymous, nothing is charged);
`router.accounts_policy.AccountsPolicy` is the full one (keys, tiers, limits, budgets, usage,
cache, conversations). The pipeline calls exactly these methods, in this order.
"""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request

from router.dispatch import Answer, BufferedAnswer, DispatchOutcome, DispatchRequest
from router.metrics import RouterMetrics
from router.pipeline.types import Admission, ParsedRequest
from routing.engine import Decision
from routing.request_view import RequestView


class Policy(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    def health(self) -> dict[str, str]:
        """Component states for `/health` ("ok" or anything else)."""

    async def authenticate(self, request: Request) -> Any:
        """The caller, or raise an `APIError` (401, ...)."""

    def shape_view(self, caller: Any, view: RequestView) -> RequestView: ...

    async def admit(
        self, caller: Any, view: RequestView, plan: Decision, parsed: ParsedRequest, rid: str
    ) -> Admission:
        """May it go, and how; raise an `APIError` to refuse (403, 402, 429, ...)."""

    async def cached(
        self, caller: Any, admission: Admission, parsed: ParsedRequest, rid: str
    ) -> BufferedAnswer | None: ...

    async def record(
        self, caller: Any, admission: Admission, req: DispatchRequest, outcome: DispatchOutcome
    ) -> None:
        """The dispatch ended (answered, failed, or the client left): metrics, usage."""

    async def abort(self, admission: Admission) -> None:
        """Nothing was served and nothing recorded: give back what admission took."""

    async def finish(self, admission: Admission, answer: Answer) -> Answer: ...


class OpenPolicy:
    def __init__(self, metrics: RouterMetrics) -> None:
        self.metrics = metrics

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def health(self) -> dict[str, str]:
        return {}

    async def authenticate(self, request: Request) -> Any:
        return None

    def shape_view(self, caller: Any, view: RequestView) -> RequestView:
        return view

    async def admit(
        self, caller: Any, view: RequestView, plan: Decision, parsed: ParsedRequest, rid: str
    ) -> Admission:
        return Admission(candidates=tuple((c.model, c.version) for c in plan.candidates))

    async def cached(
        self, caller: Any, admission: Admission, parsed: ParsedRequest, rid: str
    ) -> BufferedAnswer | None:
        return None

    async def record(
        self, caller: Any, admission: Admission, req: DispatchRequest, outcome: DispatchOutcome
    ) -> None:
        self.metrics.record(outcome)

    async def abort(self, admission: Admission) -> None:
        return None

    async def finish(self, admission: Admission, answer: Answer) -> Answer:
        return answer
