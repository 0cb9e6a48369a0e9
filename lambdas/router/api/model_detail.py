"""`GET /v1/models/{id}`: one OpenAI `Model` object plus MotherFluxer's metadata.

Ids are matched as other gateways match them: exactly, then case-insensitively, then as
`provider/model` (the catalog's `owned_by` before the id) or any alias the catalog lists.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from router.api.ingress_dispatch import json_response
from router.api.models import _CREATED, _live, _metadata
from router.ingress.errors import openai_error_body
from routing.catalog import Catalog, ModelSpec

router = APIRouter()


def resolve_model(catalog: Catalog, model_id: str) -> ModelSpec | None:
    exact = catalog.get(model_id)
    if exact is not None:
        return exact
    wanted = model_id.strip().lower()
    for spec in catalog.models:
        names = {spec.id, f"{spec.owned_by}/{spec.id}", *getattr(spec, "aliases", ())}
        if wanted in {n.lower() for n in names}:
            return spec
    return None


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> Response:
    # An invalid key is refused here as on every routed endpoint; no key is the demo tier.
    await request.app.state.policy.authenticate(request)
    svc = request.app.state.services
    spec = resolve_model(svc.catalog, model_id)
    if spec is None:
        body = openai_error_body(
            "invalid_request_error",
            f"The model '{model_id}' does not exist",
            "model",
            "model_not_found",
        )
        return json_response(body, 404)
    snap = await svc.store.get()
    model: dict[str, Any] = {
        "id": spec.id,
        "object": "model",
        "created": _CREATED,
        "owned_by": spec.owned_by,
        **_metadata(spec),
        "status": _live(spec, snap, time.time(), svc.dispatcher.queue.depth(spec.id)),
    }
    return json_response(model)
