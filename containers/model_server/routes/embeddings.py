"""POST /v1/embeddings: mean-pooled, L2-normalised hidden states of the served model."""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_server.errors import ApiError
from model_server.protocol import EmbeddingJob, EmbeddingResult, GenerationError
from model_server.request_body import read_json, validate
from model_server.routes import server_of
from model_server.runner import admit, generation_error, unavailable
from model_server.schemas import EmbeddingRequest
from model_server.state import ServerState
from model_server.supervisor import BackendUnavailable

MAX_INPUTS = 2048  # OpenAI's own limit per request

router = APIRouter()


def _encode(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "float":
        return vector
    # As OpenAI: the raw little-endian float32 array, base64-encoded.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _check(state: ServerState, req: EmbeddingRequest) -> list[str] | list[list[int]]:
    info = state.supervisor.info
    capabilities = info.capabilities if info else {}
    if info is not None and not capabilities.get("embeddings"):
        raise ApiError(
            400,
            f"model {state.settings.served_model_name!r} ({info.backend}) cannot embed",
            "unsupported_model",
            param="model",
        )
    native = capabilities.get("embedding_dimensions")
    if req.dimensions is not None and req.dimensions != native:
        raise ApiError(
            400,
            f"dimensions: this model embeds in exactly {native} dimensions and cannot shorten them",
            "unsupported_parameter",
            param="dimensions",
        )
    inputs = req.inputs()
    if not inputs or len(inputs) > MAX_INPUTS:
        raise ApiError(
            400, f"input must hold 1 to {MAX_INPUTS} items", "invalid_input", param="input"
        )
    if any(len(item) == 0 for item in inputs):
        raise ApiError(400, "input must not contain empty items", "invalid_input", param="input")
    return inputs


async def embed(state: ServerState, job: EmbeddingJob) -> EmbeddingResult:
    admit(state)
    state.request_started()
    try:
        async for result in state.supervisor.generate(job):  # type: ignore[arg-type]
            return result  # type: ignore[return-value]
    except BackendUnavailable as exc:
        raise unavailable(exc) from exc
    except GenerationError as exc:
        raise generation_error(exc) from exc
    finally:
        state.request_finished()
    raise ApiError(500, "the model backend returned no embedding", "backend_error")


@router.post("/v1/embeddings")
async def embeddings(request: Request) -> Response:
    state = server_of(request)
    req = validate(EmbeddingRequest, await read_json(request, state.settings.max_body_bytes))
    inputs = _check(state, req)
    started = time.monotonic()
    result = await embed(state, EmbeddingJob(inputs=inputs))
    state.metrics.observe_generation(
        "/v1/embeddings", time.monotonic() - started, None, result.prompt_tokens, 0
    )
    data: list[dict[str, Any]] = [
        {"object": "embedding", "index": i, "embedding": _encode(v, req.encoding_format)}
        for i, v in enumerate(result.vectors)
    ]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": state.settings.served_model_name,
            "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
        }
    )
