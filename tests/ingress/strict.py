"""Validation against the official SDKs' own types, strictly.

`model_validate` already fails on a missing required field or a wrong type; on top of that,
a field the SDK type does not define (something a client would silently drop) fails too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter


def _no_extras(value: Any, path: str) -> None:
    if isinstance(value, BaseModel):
        extra = value.model_extra or {}
        assert not extra, f"{path}: fields the SDK type does not define: {sorted(extra)}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_extras(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_extras(item, f"{path}.{key}")


def strict(type_: Any, data: Any) -> Any:
    """`data` validated as `type_` (a model or an annotated union), with no unknown fields."""
    obj = TypeAdapter(type_).validate_python(data)
    _no_extras(obj, type_.__name__ if hasattr(type_, "__name__") else "value")
    return obj
