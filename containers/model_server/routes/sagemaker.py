"""SageMaker's /invocations: an OpenAI chat or completion body, or a Hugging Face body."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_server.errors import ApiError
from model_server.openai_format import ChunkWriter, new_id
from model_server.protocol import GenerationJob, GenerationParams
from model_server.request_body import check_max_tokens, read_json, validate
from model_server.routes import server_of
from model_server.routes.openai_api import chat, completion
from model_server.runner import run_buffered
from model_server.schemas import HFRequest
from model_server.state import ServerState
from model_server.streaming import run_streamed

router = APIRouter()


async def hf_generate(state: ServerState, endpoint: str, body: dict[str, Any]) -> Response:
    settings = state.settings
    req = validate(HFRequest, body)
    p = req.parameters
    # Hugging Face semantics: greedy unless sampling is asked for.
    sampling = p.do_sample if p.do_sample is not None else p.temperature not in (None, 0)
    wanted = check_max_tokens(
        settings, p.max_new_tokens or settings.default_max_tokens, "max_new_tokens"
    )
    params = GenerationParams(
        max_tokens=wanted,
        temperature=(p.temperature or 1.0) if sampling else 0.0,
        top_p=p.top_p or 1.0,
        seed=p.seed,
        stop=tuple(p.stop or ()),
    )
    job = GenerationJob(params=params, prompt=req.inputs)
    if req.stream:
        writer = ChunkWriter(
            "text", settings.served_model_name, state.fingerprint, False, new_id("text")
        )
        return await run_streamed(state, endpoint, job, writer)
    outcome = await run_buffered(state, endpoint, job)
    text = outcome.joined
    return JSONResponse([{"generated_text": (req.inputs + text) if p.return_full_text else text}])


@router.post("/invocations")
async def invocations(request: Request) -> Response:
    state = server_of(request)
    body = await read_json(request, state.settings.max_body_bytes)
    if "messages" in body:
        return await chat(state, "/invocations", body)
    if "prompt" in body:
        return await completion(state, "/invocations", body)
    if "inputs" in body:
        return await hf_generate(state, "/invocations", body)
    raise ApiError(422, "body must have one of: messages, prompt, inputs", "invalid_parameters")
