"""No silent drops: a request needing what its model lacks is refused before any upstream call.

The checks themselves are pure (routing.requirements); this module applies them to a chat
request: an explicit model lacking a capability, or no configured model having it, is a 400
naming the `param`; in auto mode the needs become required capabilities, so only capable
models are candidates; fallbacks that lack one are dropped from the plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from router.errors import BadRequest
from routing.catalog import Catalog, ModelSpec
from routing.request_view import RequestView
from routing.requirements import fits_context, missing_need, request_needs, strip_unneeded


def check_chat(
    view: RequestView, payload: dict[str, Any], catalog: Catalog
) -> tuple[RequestView, dict[str, Any]]:
    needs = request_needs(payload, view.image_count)
    tokens = view.estimated_tokens()
    spec = catalog.get(view.model) if isinstance(view.model, str) else None
    if spec is not None and not view.auto_select:
        lacking = missing_need(spec.capabilities, needs)
        if lacking is not None:
            raise BadRequest(
                f"model '{spec.id}' does not support {lacking.what}; "
                f"remove '{lacking.param}' or choose a model that supports it",
                code="unsupported_parameter",
                param=lacking.param,
            )
        if not fits_context(spec.context_window, tokens, _output(spec, view)):
            raise BadRequest(
                f"model '{spec.id}' has a context window of {spec.context_window} tokens; "
                f"this request needs about {tokens + (_output(spec, view) or 0)}",
                code="context_length_exceeded",
                param="messages",
            )
    for need in needs:
        if not any(need.capability in s.capabilities for s in catalog.models):
            raise BadRequest(
                f"no model here supports {need.what}",
                code="unsupported_parameter",
                param=need.param,
            )
    if not any(fits_context(s.context_window, tokens, _output(s, view)) for s in catalog.models):
        raise BadRequest(
            f"the request needs about {tokens + (view.max_tokens or 0)} tokens, more than "
            "any model here holds",
            code="context_length_exceeded",
            param="messages",
        )
    required = {n.capability for n in needs if n.capability != "vision"}
    if required:
        reqs = view.requirements.model_copy(
            update={"required_capabilities": view.requirements.required_capabilities | required}
        )
        view = view.model_copy(update={"requirements": reqs})
    return view, payload


def _output(spec: ModelSpec, view: RequestView) -> int | None:
    # More output than the model gives is the max_tokens rule's to refuse or clamp (a 400
    # naming `max_tokens`, or the demo clamp), not a context overflow.
    return min(view.max_tokens, spec.max_output_tokens) if view.max_tokens else None


def capable(
    candidates: Iterable[tuple[str, str | None]], catalog: Catalog, view: RequestView
) -> list[tuple[str, str | None]]:
    """The candidates whose model has every capability the request requires."""
    need = set(view.requirements.required_capabilities)
    if view.has_images:
        need.add("vision")
    out = []
    for model, version in candidates:
        spec = catalog.get(model)
        if spec is None or need <= set(spec.capabilities):
            out.append((model, version))
    return out


def payload_for(payload: dict[str, Any], models: Iterable[str], catalog: Catalog) -> dict[str, Any]:
    """Tools with `tool_choice: "none"` are left out when a candidate cannot take tools."""
    if all("tools" in getattr(catalog.get(m), "capabilities", ()) for m in models):
        return payload
    return strip_unneeded(payload)
