"""OpenAI-compatible generation: /v1/models, /v1/chat/completions, /v1/completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_server.errors import ApiError
from model_server.openai_format import ChunkWriter, Kind, completion_body, new_id
from model_server.protocol import GenerationJob
from model_server.request_body import read_json, sampling_params, validate
from model_server.routes import server_of
from model_server.runner import run_buffered
from model_server.schemas import ChatCompletionRequest, CompletionRequest
from model_server.state import ServerState
from model_server.streaming import run_streamed

router = APIRouter()


def model_entry(state: ServerState) -> dict[str, Any]:
    settings = state.settings
    info = state.supervisor.info
    return {
        "id": settings.served_model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "motherfluxer",
        "version": settings.model_version,
        "backend": state.backend_name,
        "demo": state.demo,
        "ready": state.ready,
        "context_window": info.context_window if info else None,
        "capabilities": info.capabilities if info else None,
    }


async def chat(state: ServerState, endpoint: str, body: dict[str, Any]) -> Response:
    req = validate(ChatCompletionRequest, body)
    try:
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
    except ValueError as exc:
        raise ApiError(400, str(exc), "unsupported_content", param="messages") from exc
    params = sampling_params(state.settings, req, req.max_completion_tokens or req.max_tokens)
    job = GenerationJob(params=params, messages=messages)
    return await respond(state, endpoint, job, "chat", req.stream, req.include_usage)


async def completion(state: ServerState, endpoint: str, body: dict[str, Any]) -> Response:
    req = validate(CompletionRequest, body)
    params = sampling_params(state.settings, req, req.max_tokens)
    job = GenerationJob(params=params, prompt=req.prompt_text())
    return await respond(state, endpoint, job, "text", req.stream, req.include_usage)


async def respond(
    state: ServerState,
    endpoint: str,
    job: GenerationJob,
    kind: Kind,
    stream: bool,
    include_usage: bool,
) -> Response:
    name = state.settings.served_model_name
    if stream:
        writer = ChunkWriter(kind, name, state.fingerprint, include_usage, new_id(kind))
        return await run_streamed(state, endpoint, job, writer)
    outcome = await run_buffered(state, endpoint, job)
    last = outcome.last
    assert last is not None and last.finish_reason is not None
    return JSONResponse(
        completion_body(
            kind,
            response_id=new_id(kind),
            model=name,
            text=outcome.joined,
            finish_reason=last.finish_reason,
            prompt_tokens=last.prompt_tokens,
            completion_tokens=last.completion_tokens,
            fingerprint=state.fingerprint,
        )
    )


@router.get("/v1/models")
async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [model_entry(server_of(request))]})


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state = server_of(request)
    body = await read_json(request, state.settings.max_body_bytes)
    return await chat(state, "/v1/chat/completions", body)


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    state = server_of(request)
    body = await read_json(request, state.settings.max_body_bytes)
    return await completion(state, "/v1/completions", body)
