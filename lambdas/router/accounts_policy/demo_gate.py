"""The demo gate: callers without a key reach only the catalog's demo models."""

from __future__ import annotations

from accounts.errors import Forbidden
from accounts.tiers import Caller
from routing.catalog import Catalog


def allowed_candidates(
    caller: Caller, candidates: tuple[tuple[str, str], ...], catalog: Catalog
) -> tuple[tuple[str, str], ...]:
    """The plan narrowed to the models this caller may use, whatever the plan preferred."""
    allowed = tuple(
        (m, v)
        for m, v in candidates
        if (spec := catalog.get(m)) is not None and caller.may_use(spec)
    )
    if not allowed:
        raise Forbidden("these models need an API key; the demo models are open to all")
    return allowed
