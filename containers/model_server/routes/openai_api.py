"""OpenAI-compatible generation: /v1/models, /v1/chat/completions, /v1/completions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from model_server.chat_tools import ToolChatWriter, buffered_tool_answer
from model_server.errors import ApiError
from model_server.grammar import allows_text, build_constraint
from model_server.openai_format import ChunkWriter, Kind, completion_body, new_id
from model_server.protocol import GenerationJob
from model_server.request_body import read_json, sampling_params, validate
from model_server.routes import server_of
from model_server.runner import run_buffered
from model_server.schemas import ChatCompletionRequest, CompletionRequest
from model_server.state import ServerState
from model_server.streaming import run_streamed
from model_server.tool_calls import tools_prompt

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


def _require(state: ServerState, capability: str, param: str) -> None:
    """Refuse, never silently ignore, what this backend cannot enforce."""
    info = state.supervisor.info
    if info is not None and not info.capabilities.get(capability):
        raise ApiError(
            400,
            f"{param} is not supported by the {info.backend} backend of this model",
            "unsupported_parameter",
            param=param,
        )


def chat_job(state: ServerState, req: ChatCompletionRequest) -> GenerationJob:
    try:
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
    except ValueError as exc:
        raise ApiError(400, str(exc), "unsupported_content", param="messages") from exc
    params = sampling_params(state.settings, req, req.max_completion_tokens or req.max_tokens)
    response_format = req.response_format.model_dump() if req.response_format else None
    tools = req.tool_dicts()
    choice = req.tool_choice_value()
    offered = tools if choice != "none" else None
    if response_format and response_format["type"] != "text":
        _require(state, "structured_output", "response_format")
    if offered:
        _require(state, "tools", "tools")
    constraint = build_constraint(
        response_format, tools, choice, req.parallel_tool_calls is not False
    )
    return GenerationJob(
        params=params,
        messages=messages,
        constraint=constraint,
        tools=offered,
        tool_prompt=tools_prompt(offered, allows_text(choice)) if offered else None,
    )


async def chat(state: ServerState, endpoint: str, body: dict[str, Any]) -> Response:
    req = validate(ChatCompletionRequest, body)
    job = chat_job(state, req)
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
        chunks = ChunkWriter(kind, name, state.fingerprint, include_usage, new_id(kind))
        writer = ToolChatWriter(chunks) if job.tools else chunks
        return await run_streamed(state, endpoint, job, writer)
    outcome = await run_buffered(state, endpoint, job)
    last = outcome.last
    assert last is not None and last.finish_reason is not None
    finish_reason: str = last.finish_reason
    tool_calls: list[dict[str, Any]] = []
    if job.tools:
        tool_calls, finish_reason = buffered_tool_answer(outcome.joined, finish_reason)
    return JSONResponse(
        completion_body(
            kind,
            response_id=new_id(kind),
            model=name,
            text=outcome.joined,
            finish_reason=finish_reason,
            prompt_tokens=last.prompt_tokens,
            completion_tokens=last.completion_tokens,
            fingerprint=state.fingerprint,
            tool_calls=tool_calls or None,
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
