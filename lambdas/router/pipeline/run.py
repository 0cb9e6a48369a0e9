"""The request pipeline, top to bottom: parse → authenticate → plan → admit → cache →
dispatch → record. Route modules parse; this runs the rest and returns a typed answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import Request

from router import capabilities
from router.api.deps import client_request_id, deadline, request_id, services
from router.dispatch import Answer, DispatchOutcome, DispatchRequest
from router.errors import BadRequest
from router.outcomes import observe
from router.pipeline.policy import Policy
from router.pipeline.types import Admission, ParsedRequest
from routing.engine import Decision
from routing.instances import Instance


def policy_of(request: Request) -> Policy:
    return request.app.state.policy


async def run_pipeline(request: Request, parsed: ParsedRequest) -> Answer:
    """The answer to one parsed request; refusals and failures raise `APIError`."""
    svc = services(request)
    policy = policy_of(request)
    rid = request_id(request)
    parsed = replace(parsed, client_request_id=client_request_id(request))

    caller = await policy.authenticate(request)
    view = policy.shape_view(caller, parsed.view)

    snap = await svc.store.get()
    plan = svc.routing.plan(view, snap, manual_not_served_404=parsed.manual_not_served_404)
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
    )

    admission = await policy.admit(caller, view, plan, parsed, rid)
    try:
        return await _cache_or_dispatch(request, parsed, plan, admission, caller, rid)
    except BaseException:
        # Whatever was not recorded gives back its reservation and overload slot.
        await policy.abort(admission)
        raise


async def _cache_or_dispatch(
    request: Request,
    parsed: ParsedRequest,
    plan: Decision,
    admission: Admission,
    caller: Any,
    rid: str,
) -> Answer:
    svc = services(request)
    policy = policy_of(request)
    hit = await policy.cached(caller, admission, parsed, rid)
    if hit is not None:
        hit.route.extra.update(admission.headers)
        _echo_request_ids(hit, parsed, rid)
        return hit

    req = DispatchRequest(
        request_id=rid,
        path=parsed.path,
        body=admission.upstream_body(parsed.payload),
        stream=parsed.stream,
        candidates=admission.candidates,
        reason=plan.reason,
        task=plan.task,
        deadline=deadline(request, svc.settings.request_timeout_s),
        capture_text=admission.capture_text,
    )

    def pick(model: str, version: str, exclude: set[str]) -> Instance | None:
        return svc.routing.pick(plan, model, version, exclude)

    async def record(outcome: DispatchOutcome) -> None:
        observe(svc.routing.outcomes, svc.catalog, admission.candidates, req.task, outcome)
        await policy.record(caller, admission, req, outcome)

    answer = await svc.dispatcher.run(req, pick, record)
    answer.route.extra.update(admission.headers)
    _echo_request_ids(answer, parsed, rid)
    return await policy.finish(admission, answer)


def _echo_request_ids(answer: Answer, parsed: ParsedRequest, rid: str) -> None:
    """`x-request-id` echoes the caller's id (else ours); `x-motherfluxer-request-id` is ours."""
    answer.route.extra["x-request-id"] = parsed.client_request_id or rid
    answer.route.extra["x-motherfluxer-request-id"] = rid
