"""The accounts policy: keys and tiers, the demo gate, limits and budgets, the response cache,
conversation history and the usage ledger, around the pipeline's dispatch step.

Built only when a database is configured (`router.main`); each concern is its own module here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import Request

from accounts.cache import cache_key
from accounts.errors import AccountsError
from accounts.hot_path import Completion
from accounts.pricing import price_request
from accounts.ratelimit_headers import ratelimit_headers
from accounts.tiers import Caller
from router import after_response
from router.accounts_policy import conversations, response_cache
from router.accounts_policy.conversations import ConversationRef
from router.accounts_policy.demo_gate import allowed_candidates
from router.accounts_policy.max_tokens import clamp_headers, refuse_over_limit
from router.accounts_policy.prices import MeasuredPrices
from router.accounts_policy.startup import lambda_service, start_local
from router.accounts_policy.usage import usage_record
from router.api.deps import client_ip
from router.authz import check
from router.dispatch import Answer, BufferedAnswer, DispatchOutcome, DispatchRequest
from router.feedback_refresh import FeedbackRefresher
from router.metrics import RouterMetrics
from router.pipeline.types import Admission, ParsedRequest
from router.services import Services
from routing.engine import Decision
from routing.request_view import RequestView

logger = logging.getLogger("motherfluxer.router")


@dataclass(slots=True)
class Ticket:
    """What one request holds between admission and its record."""

    reservation: Any
    first_model: str
    cache_key: str | None
    conversation: ConversationRef | None
    completion: Any = None
    # The task saving this turn of history (awaited before a buffered answer is sent).
    history: asyncio.Task[bool] | None = None


class AccountsPolicy:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.metrics = RouterMetrics()
        self.service: Any = lambda_service(svc) if svc.settings.usage_queue_url else None
        self._local: Any = None
        self._prices = MeasuredPrices()
        self._background: set[asyncio.Task[None]] = set()
        # A Lambda environment freezes once its response is sent, so there the usage is
        # recorded before; a long-running process records it after, in batches.
        self._defer = after_response.deferring()
        self._sweep: asyncio.Task[None] | None = None
        self.feedback_refresh: FeedbackRefresher | None = None

    # -- start-up ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self.service is None:
            self._local = await start_local(self.svc)
            self.service = self._local.service
        self._sweep = asyncio.get_running_loop().create_task(
            self.service.orphans.run(), name="orphan-sweep"
        )
        fetch = getattr(self.service, "feedback_means", None)
        if fetch is not None:
            # Mean feedback joins the routing history score, refreshed off the hot path.
            self.feedback_refresh = FeedbackRefresher(fetch, self.svc.routing.outcomes)
            self.feedback_refresh.start()

    async def aclose(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        if self.feedback_refresh is not None:
            await self.feedback_refresh.stop()
        if self.service is not None:
            await self.service.drain_settlements()
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if self._local is not None:
            await self._local.close()

    async def health(self) -> dict[str, str]:
        if self.service is None:
            return {"accounts": "starting"}
        states = await self.service.component_states()
        overall = "ok" if all(v == "ok" for v in states.values()) else "degraded"
        return {"accounts": overall, **states}

    # -- authenticate -----------------------------------------------------------------------
    async def caller(self, request: Request) -> Caller:
        """Who is calling, whatever they may do (`router.authz` checks scopes)."""
        return await self.service.authenticate(
            request.headers.get("authorization"), client_ip(request)
        )

    async def authenticate(self, request: Request) -> Caller:
        caller = await self.caller(request)
        check(caller, "inference")
        return caller

    def shape_view(self, caller: Caller, view: RequestView) -> RequestView:
        # A/B assignment is sticky per end user: the account, plus the OpenAI `user` field an
        # application sets for its own users, so one key's users still spread over versions.
        user = caller.user_id
        if user and view.user_id:
            user = f"{user}:{view.user_id}"
        # The key's default goal applies unless the request names its own.
        update: dict = {"tier": caller.tier, "user_id": user or view.user_id}
        if view.goal is None and caller.optimize is not None:
            update.update(goal=caller.optimize, goal_source="key")
        return view.model_copy(update=update)

    # -- admit ------------------------------------------------------------------------------
    async def admit(
        self, caller: Caller, view: RequestView, plan: Decision, parsed: ParsedRequest, rid: str
    ) -> Admission:
        catalog = self.svc.routing.catalog
        planned = tuple((c.model, c.version) for c in plan.candidates)
        candidates = allowed_candidates(caller, planned, catalog)
        ref = conversations.conversation_ref(caller, parsed.payload)
        if ref is not None and ref.existing is not None:
            # Only the caller's own conversations can be continued.
            await self.service.get_conversation(caller.user_id, ref.existing)
        first_model = candidates[0][0]
        spec = catalog.get(first_model)
        assert spec is not None
        refuse_over_limit(caller, spec, view, parsed.payload)
        self._prices.refresh(self.svc.store.current(), catalog, self.service.prices)
        try:
            reservation = await self.service.admit(
                caller,
                spec,
                view.estimated_tokens(),
                view.max_tokens,
                request_id=rid,
                body=parsed.payload,
                client_request_id=parsed.client_request_id,
            )
        except AccountsError as err:
            if err.status == 402:
                self.metrics.count("BudgetRejected", model=first_model)
            elif err.status == 429:
                self.metrics.count("RateLimited", tier=caller.tier)
            raise
        key = None if parsed.stream else cache_key(caller.tenant, parsed.payload)
        headers = ratelimit_headers(reservation.buckets, reservation.levels)
        if parsed.path != "/v1/embeddings":
            headers.update(clamp_headers(view.max_tokens, reservation.max_tokens))
        if ref is not None:
            headers["x-motherfluxer-conversation-id"] = ref.id
        return Admission(
            candidates=candidates,
            # The clamp for this caller's tier is what the instance gets; embeddings generate
            # nothing, and an embeddings API rejects the field.
            max_tokens=None if parsed.path == "/v1/embeddings" else reservation.max_tokens,
            capture_text=ref is not None,
            headers=headers,
            ticket=Ticket(reservation, first_model, key, ref),
        )

    # -- cache ------------------------------------------------------------------------------
    async def cached(
        self, caller: Caller, admission: Admission, parsed: ParsedRequest, rid: str
    ) -> BufferedAnswer | None:
        """A hit still counts against limits and is in the ledger, at no cost."""
        ticket: Ticket = admission.ticket
        hit = await response_cache.lookup(self.service.cache, ticket.cache_key)
        if hit is None:
            return None
        answer, usage = response_cache.hit_answer(hit, rid)
        record = usage_record(
            caller,
            rid,
            model=answer.route.model or ticket.first_model,
            version=answer.route.version,
            instance_id=None,
            usage=usage,
            latency_ms=0.0,
            status=200,
            route_reason="cache hit",
            cached=True,
        )
        try:
            if self._defer:
                ticket.completion = self.service.complete_later(ticket.reservation, record)
            else:
                ticket.completion = await self.service.complete(ticket.reservation, record)
        except Exception:
            logger.exception("usage for cached request %s could not be recorded", rid)
        answer.route.extra["x-motherfluxer-cost-usd"] = _usd(0)
        return answer

    # -- record -----------------------------------------------------------------------------
    async def record(
        self, caller: Caller, admission: Admission, req: DispatchRequest, outcome: DispatchOutcome
    ) -> None:
        after_response.soon(self.metrics.record, outcome)
        ticket: Ticket = admission.ticket
        cost = self._cached_token_cost(outcome, outcome.model or ticket.first_model)
        if self._defer:
            # The cost is the answer's (its header); the ledger record is built and queued
            # right after the response, its intent in Redis covering the gap (accounts.orphans).
            if cost is None:
                usage = outcome.usage
                cost = self.service.cost_of(
                    ticket.reservation,
                    usage.prompt_tokens if usage else 0,
                    usage.completion_tokens if usage else 0,
                    outcome.version,
                )
            ticket.completion = Completion(cost)
            after_response.soon(self._record_later, caller, ticket, req, outcome, cost)
        else:
            record = self._usage_record(caller, ticket, req, outcome, cost)
            try:
                ticket.completion = await self.service.complete(ticket.reservation, record)
            except Exception:
                # The outbox write is local; reaching here means the disk failed. Log loudly.
                logger.exception("usage for request %s could not be recorded", req.request_id)
                return
            self._after_settle(record, ticket.completion)
        if ticket.conversation is not None and outcome.status == 200 and outcome.text is not None:
            ticket.history = self._in_background(
                conversations.save_turn(
                    self.service,
                    caller,
                    ticket.conversation,
                    req.body,
                    outcome.text,
                    outcome.model,
                    req.request_id,
                )
            )

    def _usage_record(
        self,
        caller: Caller,
        ticket: Ticket,
        req: DispatchRequest,
        outcome: DispatchOutcome,
        cost: Decimal | None,
    ) -> Any:
        record = usage_record(
            caller,
            req.request_id,
            model=outcome.model or ticket.first_model,
            version=outcome.version,
            instance_id=outcome.instance_id,
            usage=outcome.usage,
            latency_ms=outcome.latency_ms,
            status=outcome.status,
            route_reason=req.reason,
            task=req.task,
        )
        record.cost_usd = cost
        return record

    def _record_later(
        self,
        caller: Caller,
        ticket: Ticket,
        req: DispatchRequest,
        outcome: DispatchOutcome,
        cost: Decimal,
    ) -> None:
        record = self._usage_record(caller, ticket, req, outcome, cost)
        try:
            self.service.complete_later(ticket.reservation, record, self._after_settle)
        except Exception:
            logger.exception("usage for request %s could not be recorded", req.request_id)

    def _cached_token_cost(self, outcome: DispatchOutcome, model: str) -> Decimal | None:
        """Cached prompt tokens have prices of their own (catalog `cost_per_1m_cached_*`)."""
        usage = outcome.usage
        if usage is None or not (usage.cached_tokens or usage.cache_write_tokens):
            return None
        spec = self.svc.routing.catalog.get(model)
        if spec is None:
            return None
        return price_request(
            spec,
            usage.prompt_tokens,
            usage.completion_tokens,
            self.service.price_for(spec.id, outcome.version),
            cached_in=usage.cached_tokens,
            cache_write=usage.cache_write_tokens,
        )

    def _after_settle(self, record: Any, completion: Any) -> None:
        if completion.budget_alert_80:
            self.metrics.count("BudgetUsage80", model=record.model)
        if completion.cost_usd:
            self.metrics.count(
                "CostUsd",
                float(completion.cost_usd),
                model=record.model,
                version=record.version or "none",
            )

    def _in_background(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def abort(self, admission: Admission) -> None:
        ticket: Ticket = admission.ticket
        if ticket.completion is None:
            try:
                await self.service.abort(ticket.reservation)
            except Exception:
                logger.warning("could not release the admission of an aborted request")

    async def finish(self, admission: Admission, answer: Answer) -> Answer:
        ticket: Ticket = admission.ticket
        if ticket.conversation is not None:
            await conversations.say_whether_saved(ticket.history, answer)
        if ticket.completion is not None:
            answer.route.extra["x-motherfluxer-cost-usd"] = _usd(ticket.completion.cost_usd)
        if (
            ticket.cache_key is not None
            and isinstance(answer, BufferedAnswer)
            and answer.status == 200
            and not answer.cached
        ):
            await response_cache.store(self.service.cache, ticket.cache_key, answer)
        return answer


def _usd(value: Decimal | float) -> str:
    return f"{Decimal(value):.9f}"
