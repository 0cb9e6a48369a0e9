"""`max_tokens` above a model's output limit: a 400 like OpenAI's, or in the demo tier a clamp
the caller is told about (`x-motherfluxer-max-tokens-clamped: <requested>-><granted>`)."""

from __future__ import annotations

from typing import Any

from accounts.tiers import Caller
from router.errors import BadRequest
from routing.catalog import ModelSpec
from routing.request_view import RequestView

CLAMPED_HEADER = "x-motherfluxer-max-tokens-clamped"


def _param(payload: dict[str, Any]) -> str:
    return "max_tokens" if payload.get("max_tokens") is not None else "max_completion_tokens"


def refuse_over_limit(
    caller: Caller, spec: ModelSpec, view: RequestView, payload: dict[str, Any]
) -> None:
    """A named model asked for more output than it gives is refused outside the demo tier.

    Auto-selected and list requests are clamped instead (the caller named no single model
    whose limit it could know), and say so in the header.
    """
    requested = view.max_tokens
    if requested is None or requested <= spec.max_output_tokens:
        return
    named = isinstance(view.model, str) and view.model != "auto" and not view.auto_select
    if caller.tier == "demo" or not named:
        return
    param = _param(payload)
    raise BadRequest(
        f"{param} is too large: {requested}. This model supports at most "
        f"{spec.max_output_tokens} completion tokens, whereas you provided {requested}.",
        code="invalid_value",
        param=param,
    )


def clamp_headers(requested: int | None, granted: int) -> dict[str, str]:
    """The header that says a request's own `max_tokens` was lowered (never silently)."""
    if requested is None or requested <= granted:
        return {}
    return {CLAMPED_HEADER: f"{requested}->{granted}"}
