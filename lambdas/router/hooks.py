"""Per-request policy hooks around dispatch: who is calling, may they, and what it cost.

`OpenHooks` is the spine's policy (everyone is an anonymous caller, nothing is charged); the
accounts package supplies the real one (keys, tiers, limits, budgets, usage ledger).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from starlette.responses import Response

from router.dispatch import Outcome, RouteRequest
from router.metrics import RouterMetrics
from routing.engine import Decision as Plan
from routing.request_view import RequestView

logger = logging.getLogger("motherfluxer.router")


class OpenHooks:
    def __init__(self, metrics: RouterMetrics) -> None:
        self.metrics = metrics

    async def authenticate(self, request: Request) -> Any:
        return None

    def shape_view(self, caller: Any, view: RequestView) -> RequestView:
        return view

    async def admit(
        self, request: Request, caller: Any, view: RequestView, plan: Plan, req: RouteRequest
    ) -> Any | Response:
        return None

    async def complete(
        self,
        request: Request,
        caller: Any,
        view: RequestView,
        req: RouteRequest,
        admission: Any,
        outcome: Outcome,
    ) -> None:
        self.metrics.record(outcome)

    async def finish(self, req: RouteRequest, admission: Any, response: Response) -> Response:
        return response

    async def abort(self, admission: Any) -> None:
        return None

    def health(self) -> dict[str, str]:
        return {}

    async def aclose(self) -> None:
        return None
