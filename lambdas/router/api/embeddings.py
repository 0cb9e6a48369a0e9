"""`POST /v1/embeddings`, routed to the named embedding-capable model.

The instance is always asked for floats; `encoding_format: base64` is produced here (float32,
little-endian, as OpenAI encodes it), so any OpenAI-compatible embeddings backend serves both.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from router.api.ingress_dispatch import (
    buffered_json,
    dispatch_embeddings,
    json_response,
    read_json,
    router_error,
    routing_headers,
)
from router.api.parsing import body_schema
from router.ingress.errors import IngressError, openai_error_body, parse_openai_error

router = APIRouter()

MAX_INPUTS = 2048


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1, le=65_536)
    user: str | None = Field(default=None, max_length=256)


def _texts(value: Any) -> list[Any]:
    items = [value] if isinstance(value, str) else list(value)
    if value == [] or (items and isinstance(items[0], int)):
        items = [items] if items else []
    if not items or len(items) > MAX_INPUTS:
        raise IngressError(f"input must hold 1 to {MAX_INPUTS} items", param="input")
    if any(isinstance(t, str) and not t for t in items):
        raise IngressError("input must not contain empty strings", param="input")
    return items


def _error(exc: IngressError) -> Response:
    return json_response(openai_error_body(exc.type, exc.message, exc.param, exc.code), exc.status)


def _router_error(response: Response) -> Response:
    status = 400 if response.status_code == 422 else response.status_code
    body = {"error": parse_openai_error(bytes(response.body), response.status_code)}
    return json_response(body, status, routing_headers(response))


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@router.post("/v1/embeddings", openapi_extra=body_schema(EmbeddingsRequest))
async def create_embeddings(request: Request) -> Response:
    try:
        body, _ = await read_json(request, EmbeddingsRequest)
        items = _texts(body.input)
        spec = request.app.state.services.catalog.get(body.model)
        if spec is not None and "embeddings" not in spec.capabilities:
            raise IngressError(
                f"model '{body.model}' does not serve embeddings",
                param="model",
                code="model_not_supported",
            )
        payload: dict[str, Any] = {"model": body.model, "input": items, "encoding_format": "float"}
        if body.dimensions is not None:
            payload["dimensions"] = body.dimensions
        if body.user is not None:
            payload["user"] = body.user
        text = "\n".join(t for t in items if isinstance(t, str))
        answer = await dispatch_embeddings(request, payload, text)
    except IngressError as exc:
        return _error(exc)
    except Exception as exc:
        return _router_error(await router_error(request, exc))
    if answer.status_code >= 400:
        return _router_error(answer)
    upstream = buffered_json(answer)
    data = upstream.get("data") if isinstance(upstream, dict) else None
    if not isinstance(data, list) or len(data) != len(items):
        return _error(
            IngressError(
                "the model answered with an invalid body", status=502, code="upstream_invalid"
            )
        )
    out = []
    for i, row in enumerate(sorted(data, key=lambda r: r.get("index", 0))):
        vector = [float(x) for x in row.get("embedding") or []]
        if body.dimensions is not None and len(vector) != body.dimensions:
            return _error(
                IngressError(
                    f"model '{body.model}' does not support dimensions={body.dimensions}",
                    param="dimensions",
                )
            )
        embedding: Any = _b64(vector) if body.encoding_format == "base64" else vector
        out.append({"object": "embedding", "index": i, "embedding": embedding})
    usage = upstream.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    result = {
        "object": "list",
        "data": out,
        "model": answer.headers.get("x-motherfluxer-model") or body.model,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "total_tokens": int(usage.get("total_tokens") or prompt_tokens),
        },
    }
    return json_response(result, headers=routing_headers(answer))
