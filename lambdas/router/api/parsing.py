"""Reading a JSON request body straight into its pydantic model, for the hot routes."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from router.error_handlers import schema_error
from router.errors import BadRequest

T = TypeVar("T", bound=BaseModel)


async def parse_body(request: Request, model: type[T]) -> tuple[T, dict[str, Any]]:
    """The body validated straight from bytes (pydantic's JSON parser), plus the raw dict.

    The hot routes skip FastAPI's body dependency: parsing once and keeping the caller's dict
    as sent (unknown OpenAI fields included) is measurably cheaper per request.
    """
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_parameter")
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        raise schema_error(list(exc.errors(include_input=False, include_url=False))) from None


# Body models the routes parse themselves, by name: `/openapi.json` defines each one it names.
_SCHEMAS: dict[str, dict[str, Any]] = {}


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The request body for the OpenAPI document, since these routes parse it themselves;
    the model and the models it nests are kept for the document's `components.schemas`."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    _SCHEMAS.update(schema.pop("$defs", {}))
    _SCHEMAS[model.__name__] = schema
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"content": {"application/json": {"schema": ref}}, "required": True}}


def body_schemas() -> dict[str, dict[str, Any]]:
    """Every schema `body_schema` has referred to, for `components.schemas`."""
    return dict(_SCHEMAS)
