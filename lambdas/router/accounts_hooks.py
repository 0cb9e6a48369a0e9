"""The accounts policy around dispatch: keys and tiers, limits, budgets, usage, cache.

Built only when a database is configured. Locally it migrates the database and drains a
disk outbox into PostgreSQL; in Lambda it sends usage to SQS (a drainer Lambda writes it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import uuid
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from accounts.errors import AccountsError
from accounts.tiers import Caller
from accounts.usage import UsageRecord
from router.api.deps import client_ip, client_request_id
from router.dispatch import Outcome, RouteRequest
from router.errors import error_body
from router.metrics import RouterMetrics
from router.services import Services
from routing.engine import Decision
from routing.request_view import RequestView

logger = logging.getLogger("motherfluxer.router")


class AccountsRejection(Exception):
    """An accounts error raised from the hooks; the app's handler renders it."""

    def __init__(self, err: AccountsError) -> None:
        self.err = err


def rejection_response(err: AccountsError) -> Response:
    return Response(
        error_body(err.type, err.message, err.code),
        status_code=err.status,
        media_type="application/json",
        headers=err.headers(),
    )


class Ticket:
    """What one request holds between admission and completion."""

    __slots__ = ("admission", "cache_key", "completion", "conversation", "first_model", "history")

    def __init__(self, admission: Any, first_model: str, cache_key: str | None) -> None:
        self.admission = admission
        self.first_model = first_model
        self.cache_key = cache_key
        self.completion: Any = None
        # (existing conversation id or None, id to create or None) when history is kept.
        self.conversation: tuple[str | None, str | None] | None = None
        # The task saving this turn of history (awaited before a buffered answer is sent).
        self.history: asyncio.Task[bool] | None = None


class AccountsHooks:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._background: set[asyncio.Task[None]] = set()
        self._priced_at = -1.0
        self.metrics = RouterMetrics()
        self.service: Any = None
        self._local: Any = None
        if svc.settings.usage_queue_url:
            self.service = self._lambda_service()

    @classmethod
    def from_settings(cls, svc: Services) -> AccountsHooks:
        return cls(svc)

    def _pepper(self) -> bytes:
        # One secret fewer to manage: the key-hash pepper is derived from the signing key.
        return hmac.new(self.svc.signer_key, b"api-key-pepper", hashlib.sha256).digest()

    def _accounts_settings(self) -> Any:
        from accounts.settings import AccountsSettings

        raw = self.svc.routing_config.get("accounts") or {}
        return AccountsSettings.model_validate(raw)

    def _lambda_service(self) -> Any:
        from accounts.bootstrap import build_service
        from accounts.dbconfig import database_url
        from accounts.usage import SqsSink

        settings = self.svc.settings
        return build_service(
            database_url(),
            settings.redis_url or "",
            SqsSink(settings.usage_queue_url or ""),
            self._pepper(),
            self.svc.admin_key,
            self._accounts_settings(),
        )

    async def start(self) -> None:
        if self.service is not None:
            return
        from accounts.bootstrap import start_local
        from accounts.redaction import install

        install()
        settings = self.svc.settings
        self._local = await start_local(
            settings.database_url or "",
            settings.redis_url or "",
            settings.data_dir or ".local",
            self.svc.admin_key,
            self._accounts_settings(),
        )
        self.service = self._local.service

    async def aclose(self) -> None:
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

    # -- per request -----------------------------------------------------------------------------
    async def caller(self, request: Request) -> Caller:
        try:
            return await self.service.authenticate(
                request.headers.get("authorization"), client_ip(request)
            )
        except AccountsError as err:
            raise AccountsRejection(err) from None

    async def authenticate(self, request: Request) -> Caller:
        from router.authz import check

        caller = await self.caller(request)
        check(caller, "inference")
        return caller

    def shape_view(self, caller: Caller, view: RequestView) -> RequestView:
        # A/B assignment is sticky per end user: the account, plus the OpenAI `user` field an
        # application sets for its own users, so one key's users still spread over versions.
        user = caller.user_id
        if user and view.user_id:
            user = f"{user}:{view.user_id}"
        return view.model_copy(update={"tier": caller.tier, "user_id": user or view.user_id})

    async def admit(
        self,
        request: Request,
        caller: Caller,
        view: RequestView,
        decision: Decision,
        req: RouteRequest,
    ) -> Any:
        catalog = self.svc.routing.catalog
        if caller.limits.demo_models_only:
            # Anonymous callers may only reach the demo models, whatever the plan preferred.
            req.candidates = [
                (m, v) for m, v in req.candidates if (spec := catalog.get(m)) and spec.demo
            ]
            if not req.candidates:
                return rejection_response(
                    _forbidden("these models need an API key; the demo models are open to all")
                )
        conversation = _conversation_request(caller, req)
        if isinstance(conversation, AccountsError):
            return rejection_response(conversation)
        if conversation is not None and conversation[0] is not None:
            try:
                # Only the caller's own conversations can be continued.
                await self.service.get_conversation(caller.user_id, conversation[0])
            except AccountsError as err:
                return rejection_response(err)
        first_model = req.candidates[0][0]
        spec = catalog.get(first_model)
        assert spec is not None
        self._refresh_measured_prices()
        from accounts.cache import cache_key

        key = None if req.stream else cache_key(caller.tenant, req.body)
        try:
            admission = await self.service.admit(
                caller,
                spec,
                view.estimated_tokens(),
                view.max_tokens,
                request_id=req.request_id,
                body=req.body,
                client_request_id=client_request_id(request),
            )
        except AccountsError as err:
            if err.status == 402:
                self.metrics.count("BudgetRejected", model=first_model)
            elif err.status == 429:
                self.metrics.count("RateLimited", tier=caller.tier)
            return rejection_response(err)
        if key is not None and self.service.cache is not None:
            hit = await self._cached(key)
            if hit is not None:
                return await self._serve_cached(caller, req, admission, hit)
        # The clamp for this caller's tier is what the instance gets.
        req.body["max_tokens"] = admission.max_tokens
        req.body.pop("max_completion_tokens", None)
        ticket = Ticket(admission, first_model, key)
        if conversation is not None:
            ticket.conversation = conversation
            req.capture_text = True
            req.extra_headers["x-motherfluxer-conversation-id"] = conversation[0] or conversation[1]
        return ticket

    async def complete(
        self,
        request: Request,
        caller: Caller,
        view: RequestView,
        req: RouteRequest,
        ticket: Ticket,
        outcome: Outcome,
    ) -> None:
        self.metrics.record(outcome)
        usage = outcome.usage
        record = UsageRecord(
            request_id=req.request_id,
            tier=caller.tier,
            user_id=caller.user_id,
            key_prefix=caller.key_prefix,
            model=outcome.model or ticket.first_model,
            version=outcome.version,
            instance_id=outcome.instance_id,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            latency_ms=round(outcome.latency_ms, 3),
            status=outcome.status,
            route_reason=req.reason[:500],
        )
        try:
            ticket.completion = await self.service.complete(ticket.admission, record)
        except Exception:
            # The outbox write is local; reaching here means the disk failed. Log loudly.
            logger.exception("usage for request %s could not be recorded", req.request_id)
            return
        if ticket.conversation is not None and outcome.status == 200 and outcome.text is not None:
            task = asyncio.get_running_loop().create_task(
                self._save_history(caller, req, ticket, outcome)
            )
            ticket.history = task
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        if ticket.completion.budget_alert_80:
            self.metrics.count("BudgetUsage80", model=record.model)
        if ticket.completion.cost_usd:
            self.metrics.count("CostUsd", float(ticket.completion.cost_usd), model=record.model)

    def _refresh_measured_prices(self) -> None:
        """Self-hosted models are priced on the throughput their instances report, so the
        price follows the fleet: recomputed whenever the instance snapshot changes."""
        from accounts.pricing import measured_tokens_per_second, with_measured_speed

        snap = self.svc.store.current()
        if snap.loaded_at == self._priced_at:
            return
        self._priced_at = snap.loaded_at
        for spec in self.svc.routing.catalog.models:
            if spec.instance_hour_usd is None:
                continue
            speed = measured_tokens_per_second(snap.instances, spec.id)
            key = (spec.id, None)
            updated = with_measured_speed(self.service.prices.get(key), speed)
            if updated is not None:
                self.service.prices[key] = updated

    async def _cached(self, key: str) -> Any:
        try:
            return await self.service.cache.get(key)
        except Exception:
            return None

    async def _serve_cached(
        self, caller: Caller, req: RouteRequest, admission: Any, hit: Any
    ) -> Response:
        """A cache hit still counts against limits and is in the ledger, at no cost."""
        headers = dict(hit.headers)
        headers["x-motherfluxer-cache"] = "hit"
        headers["x-request-id"] = req.request_id
        headers["x-motherfluxer-cost-usd"] = _usd(0)
        try:
            usage = orjson.loads(hit.body).get("usage") or {}
        except (orjson.JSONDecodeError, AttributeError):
            usage = {}
        record = UsageRecord(
            request_id=req.request_id,
            tier=caller.tier,
            user_id=caller.user_id,
            key_prefix=caller.key_prefix,
            model=headers.get("x-motherfluxer-model") or req.candidates[0][0],
            version=headers.get("x-motherfluxer-version"),
            instance_id=None,
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            cost_usd=Decimal(0),
            latency_ms=0.0,
            status=200,
            route_reason="cache hit",
            cached=True,
        )
        try:
            await self.service.complete(admission, record)
        except Exception:
            logger.exception("usage for cached request %s could not be recorded", req.request_id)
        return Response(hit.body, media_type="application/json", headers=headers)

    async def _save_history(
        self, caller: Caller, req: RouteRequest, ticket: Ticket, outcome: Outcome
    ) -> bool:
        existing, new_id = ticket.conversation or (None, None)
        turns = _request_turns(req.body)
        if existing is not None:
            # The client resends the whole conversation; only its newest turn is new here.
            turns = turns[-1:]
        turns.append({"role": "assistant", "content": outcome.text or ""})
        try:
            await self.service.save_conversation(
                caller.user_id,
                turns,
                conversation_id=existing,
                model=outcome.model,
                title=None if existing else turns[0]["content"][:80],
                new_id=new_id,
            )
        except Exception:
            # History is a convenience, never a reason to fail the answer; `finish` says so.
            logger.warning("could not save conversation for request %s", req.request_id)
            return False
        return True

    async def abort(self, ticket: Any) -> None:
        if isinstance(ticket, Ticket) and ticket.completion is None:
            try:
                await self.service.abort(ticket.admission)
            except Exception:
                logger.warning("could not release the admission of an aborted request")

    async def finish(self, req: RouteRequest, ticket: Any, response: Response) -> Response:
        if not isinstance(ticket, Ticket):
            return response
        if ticket.conversation is not None:
            await _say_whether_history_was_saved(req, ticket, response)
        if ticket.completion is not None:
            response.headers["x-motherfluxer-cost-usd"] = _usd(ticket.completion.cost_usd)
        if (
            ticket.cache_key is not None
            and response.status_code == 200
            and hasattr(response, "body")
        ):
            response.headers["x-motherfluxer-cache"] = "miss"
            headers = {k: v for k, v in response.headers.items() if k.startswith("x-motherfluxer-")}
            headers.pop("x-motherfluxer-cost-usd", None)
            try:
                await self.service.cache.put(
                    ticket.cache_key, bytes(response.body).decode(), headers
                )
            except Exception:
                logger.warning("response cache write failed")
        return response


async def _say_whether_history_was_saved(
    req: RouteRequest, ticket: Ticket, response: Response
) -> None:
    """A buffered answer names its conversation only once the turn is saved; a stream's is
    saved after its last chunk, so it says `pending` (GET /v1/conversations/{id} confirms)."""
    header = "x-motherfluxer-conversation-id"
    if req.stream:
        response.headers["x-motherfluxer-conversation-saved"] = "pending"
        return
    saved = await ticket.history if ticket.history is not None else False
    response.headers["x-motherfluxer-conversation-saved"] = "true" if saved else "false"
    if not saved and header in response.headers:
        del response.headers[header]


def _conversation_request(
    caller: Caller, req: RouteRequest
) -> tuple[str | None, str | None] | AccountsError | None:
    """The opt-in history request of a body (`save_conversation`, `conversation_id`)."""
    from accounts.errors import Forbidden, NotFound

    if not req.body.get("save_conversation"):
        return None
    if caller.user_id is None:
        return Forbidden("keeping conversation history needs an API key")
    existing = req.body.get("conversation_id")
    if existing is None:
        return None, str(uuid.uuid4())
    try:
        return str(uuid.UUID(str(existing))), None
    except ValueError:
        return NotFound("No such conversation.")


def _request_turns(body: dict[str, Any]) -> list[dict[str, str]]:
    if isinstance(body.get("messages"), list):
        turns = []
        for msg in body["messages"]:
            content = msg.get("content")
            if isinstance(content, list):
                content = " ".join(
                    p.get("text", "") for p in content if isinstance(p, dict) and p.get("text")
                )
            if isinstance(content, str) and msg.get("role") in ("system", "user", "assistant"):
                turns.append({"role": msg["role"], "content": content})
        return turns
    prompt = body.get("prompt")
    text = prompt if isinstance(prompt, str) else "\n".join(prompt or [])
    return [{"role": "user", "content": text}]


def _usd(value: Decimal | float) -> str:
    return f"{Decimal(value):.9f}"


def _forbidden(message: str) -> AccountsError:
    from accounts.errors import Forbidden

    return Forbidden(message)


def accounts_routers() -> list[APIRouter]:
    """The admin, usage and conversation endpoints, bound to the running hooks' service."""
    from accounts.api import build_router
    from router.authz import require_scope

    def service_of(request: Request) -> Any:
        return request.app.state.hooks.service

    return [build_router(service_of, require_scope)]


def install_handlers(app: Any) -> None:
    @app.exception_handler(AccountsRejection)
    async def _rejected(_: Request, exc: AccountsRejection) -> Response:
        return rejection_response(exc.err)

    @app.exception_handler(AccountsError)
    async def _accounts(_: Request, exc: AccountsError) -> Response:
        return rejection_response(exc)
