"""Sends one admitted request to an instance, failing over until an answer starts flowing.

Where and when to try again is decided by the routing library (`routing.retry.decide`, pure);
this module only carries the decisions out: it asks the breaker to admit each instance, calls
the client, reports every outcome to passive health, and hands a stream to the relay. Retries
happen here only, only before the first byte reaches the caller, and only while the retry
budget allows. See docs/resilience.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson

from router import after_response, tracing
from router.dispatch.admitted import AdmittedInstances
from router.dispatch.completion import call_hook
from router.dispatch.openai_wire import (
    answer_text,
    client_error_body,
    finish_answer,
    upstream_payload,
)
from router.dispatch.ports import InstancePicker, PassiveHealth, RetryGovernor
from router.dispatch.queue import ModelQueues, NoQueue, QueueRefused, Ticket
from router.dispatch.relay import RelayEnds, relay
from router.dispatch.types import (
    Answer,
    BufferedAnswer,
    CompletionHook,
    DispatchOutcome,
    DispatchRequest,
    RouteInfo,
    Usage,
)
from router.errors import APIError, give_up_error
from router.upstream.base import (
    BufferedReply,
    StreamReply,
    Timeouts,
    UpstreamClient,
    UpstreamFailure,
    check_buffered_body,
)
from routing.instances import Instance
from routing.outcome import Outcome
from routing.retry import (
    AttemptRecord,
    Candidate,
    RequestRetries,
    Retry,
    Stop,
    plan_first_attempt,
)

logger = logging.getLogger("motherfluxer.router")


class Dispatcher:
    def __init__(
        self,
        *,
        clients: dict[str, UpstreamClient],
        health: PassiveHealth,
        retries: RetryGovernor,
        connect_timeout_s: float,
        first_byte_timeout_s: float,
        stall_timeout_s: float,
        request_timeout_s: float,
        on_acquire: Callable[[str], None] = lambda _id: None,
        on_release: Callable[[str], None] = lambda _id: None,
        queue: ModelQueues | NoQueue | None = None,
    ) -> None:
        self._clients = clients
        self._health = health
        self._retries = retries
        self._connect = connect_timeout_s
        self._first_byte = first_byte_timeout_s
        self._stall = stall_timeout_s
        self._request_timeout = request_timeout_s
        self._acquire = on_acquire
        self._release = on_release
        # Waits for a slot when the first candidate's instances are all full (dispatch.queue).
        self.queue = queue if queue is not None else NoQueue()

    def _timeouts(self, limit: float) -> Timeouts:
        return Timeouts(
            connect=min(self._connect, limit),
            first_byte=min(self._first_byte, limit),
            stall=min(self._stall, limit),
            total=min(self._request_timeout, limit),
        )

    async def run(
        self, req: DispatchRequest, pick: InstancePicker, on_complete: CompletionHook | None
    ) -> Answer:
        """The answer, or an `APIError` (already recorded) when every attempt failed."""
        self._retries.begin()
        streaming = False
        try:
            answer = await self._run(req, pick, on_complete)
            streaming = not isinstance(answer, BufferedAnswer)
            return answer
        finally:
            if not streaming:
                self._retries.end()

    async def _run(
        self, req: DispatchRequest, pick: InstancePicker, on_complete: CompletionHook | None
    ) -> Answer:
        margin = self._retries.policy.deadline_margin_s
        deadline = req.deadline or (req.started + self._request_timeout + margin)
        plan = RequestRetries(
            deadline=deadline, plan=tuple(Candidate(m, v) for m, v in req.candidates)
        )
        waiting_since = time.perf_counter()
        ticket = await self._wait_turn(req, deadline - margin, on_complete)
        # Time spent queued is neither upstream time nor router overhead.
        queued_s = time.perf_counter() - waiting_since if ticket and ticket.waited else 0.0
        admitted = AdmittedInstances(
            pick, self._health, lambda i: i.kind in self._clients, plan, self.queue.has_room
        )
        step: Retry | Stop = plan_first_attempt(
            plan, admitted, self._retries.now(), self._retries.policy
        )
        upstream_s = 0.0
        streaming = False
        try:
            while isinstance(step, Retry):
                is_retry = bool(plan.attempts)
                if step.delay_s > 0:
                    try:
                        await asyncio.sleep(step.delay_s)
                    except asyncio.CancelledError:
                        self._retries.retry_done()  # the retry reserved for this attempt
                        raise
                inst, probe_timeout = admitted.take(step.target)
                limit = min(step.timeout_s, probe_timeout) if probe_timeout > 0 else step.timeout_s
                if ticket is not None:
                    ticket.settle()  # the slot it waited for becomes this attempt's in-flight
                t0 = time.perf_counter()
                try:
                    reply = await self._attempt(req, inst, step.target.candidate.model, limit)
                except UpstreamFailure as failure:
                    elapsed = time.perf_counter() - t0
                    upstream_s += elapsed
                    self._ended(inst, failure.outcome, elapsed, is_retry)
                    logger.info(
                        "attempt failed",
                        extra={
                            "request_id": req.request_id,
                            "instance_id": inst.instance_id,
                            "outcome": str(failure.outcome),
                        },
                    )
                    last = AttemptRecord(
                        step.target, failure.outcome, retry_after_s=failure.retry_after
                    )
                    step = self._retries.decide(plan, last, admitted)
                    if step.cooldown_s:
                        self._health.cool_down(inst, step.cooldown_s)
                    continue
                except asyncio.CancelledError:
                    self._ended(inst, Outcome.cancelled, 0.0, is_retry)
                    raise
                if is_retry:
                    self._retries.retry_done(succeeded=True)
                elapsed = time.perf_counter() - t0
                upstream_s += elapsed
                after_response.soon(self._health.record, inst, Outcome.ok, elapsed * 1000)
                attempts = len(plan.attempts) + 1
                fallback = step.target.candidate.model != plan.plan[0].model
                route = self._route(
                    req, inst, step.target.candidate.model, attempts, upstream_s + queued_s
                )
                if queued_s:
                    route.extra["x-motherfluxer-queued-ms"] = f"{queued_s * 1000:.1f}"
                if isinstance(reply, StreamReply):
                    ends = RelayEnds(
                        self._health.record, self._relay_done(inst, ticket), on_complete
                    )
                    streaming = True
                    return relay(req, inst, reply, route, fallback, ends)
                self._release(inst.instance_id)
                return await self._buffered(req, reply, route, fallback, on_complete)
        finally:
            admitted.release_unused()
            if ticket is not None and not streaming:
                ticket.close()
        raise await self._give_up(req, step, len(plan.attempts), on_complete)

    async def _attempt(
        self, req: DispatchRequest, inst: Instance, model: str, limit: float
    ) -> BufferedReply | StreamReply:
        client = self._clients[inst.kind]
        payload = upstream_payload(req.body, inst.tags.get("upstream_model", model), req.stream)
        self._acquire(inst.instance_id)
        try:
            with tracing.attempt_span(model, inst.kind, inst.tags, inst.instance_id) as span:
                reply = await client.send(
                    inst, req.path, payload, stream=req.stream, timeouts=self._timeouts(limit)
                )
                if isinstance(reply, BufferedReply) and reply.status == 200:
                    # Whatever the client kind, a 200 that is not a usable answer is a failure
                    # that can still fail over: nothing reached the caller yet.
                    reply.parsed = check_buffered_body(reply.body)
                    tracing.attempt_answered(span, reply.parsed)
        except BaseException:
            self._release(inst.instance_id)
            raise
        return reply

    def _ended(self, inst: Instance, outcome: Outcome, elapsed: float, is_retry: bool) -> None:
        if is_retry:
            self._retries.retry_done()
        self._health.record(inst, outcome, elapsed * 1000)

    def _relay_done(self, inst: Instance, ticket: Ticket | None) -> Callable[[], None]:
        def done() -> None:
            self._release(inst.instance_id)
            if ticket is not None:
                ticket.close()
            self._retries.end()

        return done

    def _route(
        self, req: DispatchRequest, inst: Instance, model: str, attempts: int, upstream_s: float
    ) -> RouteInfo:
        overhead_ms = max(0.0, (time.perf_counter() - req.started - upstream_s) * 1000)
        return RouteInfo(
            request_id=req.request_id,
            reason=req.reason,
            attempts=attempts,
            task=req.task,
            model=model,
            version=inst.version,
            instance_id=inst.instance_id,
            overhead_ms=overhead_ms,
        )

    async def _buffered(
        self,
        req: DispatchRequest,
        reply: BufferedReply,
        route: RouteInfo,
        fallback: bool,
        on_complete: CompletionHook | None,
    ) -> BufferedAnswer:
        model = route.model or ""
        body, obj, usage, text = reply.body, reply.parsed, None, None
        if obj is not None:
            usage = Usage.from_obj(obj.get("usage"))
            if req.capture_text:
                text = answer_text(obj)
            if finish_answer(obj, model):
                body = orjson.dumps(obj)
        elif reply.status >= 400:
            # The instance refused the request itself (e.g. too many tokens): pass its error
            # on in our shape without any upstream detail beyond its message.
            body = client_error_body(body, reply.status)
        outcome = DispatchOutcome.ended(
            req, route, reply.status, usage=usage, fallback=fallback, text=text
        )
        await call_hook(on_complete, outcome)
        return BufferedAnswer(status=reply.status, body=body, route=route, parsed=obj)

    async def _wait_turn(
        self, req: DispatchRequest, until: float, on_complete: CompletionHook | None
    ) -> Ticket | None:
        """A slot in the first candidate's model, waited for in its queue when it is full; a
        refusal (full queue, wait over) is recorded like any other give-up, then raised."""
        if not req.candidates:
            return None
        model, version = req.candidates[0]
        try:
            return await self.queue.enter(model, version, req.waiter, until)
        except QueueRefused as err:
            route = RouteInfo(
                request_id=req.request_id,
                reason=f"{req.reason}; queued: {err.code} ({self.queue.depth(model)} waiting)",
                attempts=0,
                task=req.task,
                model=model,
                version=version,
            )
            err.add_headers(route.headers())
            # Recorded without a model: a full queue is load, not the model failing (history).
            unrouted = RouteInfo(
                request_id=req.request_id, reason=route.reason, attempts=0, task=req.task
            )
            outcome = DispatchOutcome.ended(req, unrouted, err.status, error_code=err.code)
            await call_hook(on_complete, outcome)
            raise

    async def _give_up(
        self,
        req: DispatchRequest,
        stop: Stop,
        attempts: int,
        on_complete: CompletionHook | None,
    ) -> APIError:
        """The client's error for `stop`, once the failed dispatch is recorded."""
        route = RouteInfo(
            request_id=req.request_id, reason=req.reason, attempts=attempts, task=req.task
        )
        err = give_up_error(stop, route.headers())
        outcome = DispatchOutcome.ended(req, route, err.status, error_code=err.code)
        await call_hook(on_complete, outcome)
        return err
