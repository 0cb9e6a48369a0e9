"""The request pipeline, top to bottom: parse → authenticate → plan → admit → cache →
dispatch → record. Route modules parse; this runs the rest and returns a typed answer."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from fastapi import Request

from router import after_response, capabilities, tracing, wake
from router.api.deps import client_request_id, deadline, request_id, services
from router.dispatch import Answer, DispatchOutcome, DispatchRequest
from router.dispatch.queue import claim_for
from router.errors import APIError, BadRequest
from router.outcomes import observe
from router.pipeline.policy import Policy
from router.pipeline.types import Admission, ParsedRequest
from router.snapshot import Snapshot
from routing.engine import Decision
from routing.instances import Instance
from routing.request_view import RequestView


def policy_of(request: Request) -> Policy:
    return request.app.state.policy


async def run_pipeline(request: Request, parsed: ParsedRequest) -> Answer:
    """The answer to one parsed request; refusals and failures raise `APIError`."""
    rid = request_id(request)
    trace = tracing.start_request(rid, parsed.view.model, parsed.path)
    with trace.active():
        try:
            return await _run(request, parsed, trace, rid)
        except BaseException as exc:
            trace.fail(exc)
            raise


async def _run(request: Request, parsed: ParsedRequest, trace: tracing.Trace, rid: str) -> Answer:
    svc = services(request)
    policy = policy_of(request)
    client_rid = client_request_id(request)

    caller = await policy.authenticate(request)
    view = policy.shape_view(caller, parsed.view)

    snap = await svc.store.get()
    plan = _plan(svc, policy, view, snap, parsed)
    # Fallbacks lacking a capability the request needs are dropped: never a silent downgrade.
    capable = capabilities.capable(
        [(c.model, c.version) for c in plan.candidates], svc.catalog, view
    )
    if not capable:
        raise BadRequest(
            "the selected model cannot take this request", code="unsupported_parameter"
        )
    if len(capable) != len(plan.candidates):
        keep = set(capable)
        plan = replace(
            plan, candidates=tuple(c for c in plan.candidates if (c.model, c.version) in keep)
        )
    parsed = replace(
        parsed,
        payload=capabilities.payload_for(parsed.payload, [m for m, _ in capable], svc.catalog),
        client_request_id=client_rid,
    )

    admission = await policy.admit(caller, view, plan, parsed, rid)
    try:
        return await _cache_or_dispatch(request, parsed, plan, admission, caller, rid, trace)
    except BaseException:
        # Whatever was not recorded gives back its reservation and overload slot.
        await policy.abort(admission)
        raise


def _plan(
    svc: Any, policy: Policy, view: RequestView, snap: Snapshot, parsed: ParsedRequest
) -> Decision:
    """The routing plan; a request naming a sleeping model counts a wake and, when the plan
    cannot route it, goes to the model's fallback or gets 503 with the wake time."""
    sleeping = wake.asleep(view, svc.routing.index(snap), wake.wake_times(svc.routing_config))
    wake.count_wakes(getattr(policy, "metrics", None), sleeping)
    not_404 = parsed.manual_not_served_404
    try:
        return svc.routing.plan(view, snap, manual_not_served_404=not_404)
    except APIError:
        if not sleeping:
            raise
    fallback = wake.fallback_view(view, sleeping[0], svc.catalog)
    if fallback is None:
        raise wake.waking_error(sleeping)
    try:
        plan = svc.routing.plan(fallback, snap, manual_not_served_404=not_404)
    except APIError:
        raise wake.waking_error(sleeping) from None
    return replace(plan, reason=wake.fallback_reason(sleeping[0], plan.reason))


async def _cache_or_dispatch(
    request: Request,
    parsed: ParsedRequest,
    plan: Decision,
    admission: Admission,
    caller: Any,
    rid: str,
    trace: tracing.Trace,
) -> Answer:
    svc = services(request)
    policy = policy_of(request)
    hit = await policy.cached(caller, admission, parsed, rid)
    if hit is not None:
        hit.route.extra.update(admission.headers)
        _echo_request_ids(hit, parsed, rid)
        trace.finish_cached(hit.route.model)
        return hit

    req = DispatchRequest(
        request_id=rid,
        path=parsed.path,
        body=admission.upstream_body(parsed.payload),
        stream=parsed.stream,
        candidates=admission.candidates,
        reason=plan.reason,
        task_of=lambda: plan.task,
        deadline=deadline(request, svc.settings.request_timeout_s),
        capture_text=admission.capture_text,
        waiter=claim_for(
            caller, parsed.view.estimated_tokens(), admission.max_tokens or parsed.view.max_tokens
        ),
    )

    def pick(model: str, version: str, exclude: set[str]) -> Instance | None:
        return svc.routing.pick(plan, model, version, exclude)

    async def record(outcome: DispatchOutcome) -> None:
        after_response.soon(trace.finish, outcome)
        after_response.soon(
            observe, svc.routing.outcomes, svc.catalog, admission.candidates, req.task, outcome
        )
        await policy.record(caller, admission, req, outcome)

    if not plan.classified:
        # A named model's task label is reporting only: the loop works it out while the
        # upstream call is in flight (the first wait in dispatch), instead of before it.
        asyncio.get_running_loop().call_soon(plan.finish_classification)
    answer = await svc.dispatcher.run(req, pick, record)
    answer.route.extra.update(admission.headers)
    _echo_request_ids(answer, parsed, rid)
    return await policy.finish(admission, answer)


def _echo_request_ids(answer: Answer, parsed: ParsedRequest, rid: str) -> None:
    """`x-request-id` echoes the caller's id (else ours); `x-motherfluxer-request-id` is ours."""
    answer.route.extra["x-request-id"] = parsed.client_request_id or rid
    answer.route.extra["x-motherfluxer-request-id"] = rid
