"""Reading and validating request bodies: size cap, JSON, pydantic, sampling limits."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from model_server.config import Settings
from model_server.errors import ApiError, describe_validation, first_param
from model_server.protocol import GenerationParams
from model_server.schemas import _Sampling

ModelT = TypeVar("ModelT", bound=BaseModel)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body exceeds {limit} bytes", "body_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"request body exceeds {limit} bytes", "body_too_large")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "request body is not valid JSON", "invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", "invalid_json")
    return body


def validate(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(
            422, describe_validation(exc), "invalid_parameters", param=first_param(exc)
        ) from exc


def check_max_tokens(settings: Settings, wanted: int, name: str = "max_tokens") -> int:
    if wanted > settings.max_tokens_limit:
        raise ApiError(
            422,
            f"{name} must be at most {settings.max_tokens_limit}",
            "invalid_parameters",
            param=name,
        )
    return wanted


def sampling_params(
    settings: Settings, req: _Sampling, max_tokens: int | None, default_temperature: float = 1.0
) -> GenerationParams:
    wanted = check_max_tokens(settings, max_tokens or settings.default_max_tokens)
    return GenerationParams(
        max_tokens=wanted,
        temperature=default_temperature if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        seed=req.seed,
        stop=req.stop_list(),
    )
