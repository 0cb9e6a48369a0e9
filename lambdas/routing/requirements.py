"""What the caller asks of the answer: speed, quality, cost and capabilities.

Also the pure capability checks: which catalog capabilities an OpenAI request needs, and
which request field (`param`) a model that lacks one would have silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RequiredCapability = Literal[
    "vision", "tools", "json_object", "json_schema", "logprobs", "multiple_choices"
]


class Requirements(BaseModel):
    """The caller's constraints (seed 003 `requirements`); every field is optional.

    `max_response_time`, `min_quality` and `max_cost` filter models out; if nothing survives the
    filters they are relaxed (and the reason says so) rather than failing a request that some
    model could still answer. `required_capabilities` is never relaxed.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_response_time: float | None = Field(default=None, gt=0, description="seconds")
    min_quality: float | None = Field(default=None, ge=0, le=1)
    prefer_speed: bool = False
    max_cost: float | None = Field(default=None, ge=0, description="USD per request")
    required_capabilities: frozenset[RequiredCapability] = frozenset()


@dataclass(frozen=True, slots=True)
class Need:
    """One capability a request needs, and the request field that needs it."""

    capability: str
    param: str
    what: str


def request_needs(body: Mapping[str, Any], image_count: int = 0) -> tuple[Need, ...]:
    """The capabilities an OpenAI chat/completions body needs.

    `tool_choice: "none"` with tools needs no tool support: the model is told not to call
    any, so tools can be left out rather than refused.
    """
    needs: list[Need] = []
    if body.get("tools") and body.get("tool_choice") != "none":
        needs.append(Need("tools", "tools", "tool calling"))
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "json_schema":
        needs.append(Need("json_schema", "response_format", "structured output (json_schema)"))
    elif kind == "json_object":
        needs.append(Need("json_object", "response_format", "JSON mode (json_object)"))
    if image_count:
        needs.append(Need("vision", "messages", "image input"))
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        needs.append(Need("multiple_choices", "n", "n > 1"))
    if body.get("logprobs") or body.get("top_logprobs"):
        needs.append(Need("logprobs", "logprobs", "logprobs"))
    return tuple(needs)


def missing_need(capabilities: Iterable[str], needs: Iterable[Need]) -> Need | None:
    """The first need a model with these capabilities cannot meet (None if it meets all)."""
    have = set(capabilities)
    return next((n for n in needs if n.capability not in have), None)


def fits_context(context_window: int, prompt_tokens: int, max_tokens: int | None) -> bool:
    return prompt_tokens + (max_tokens or 0) <= context_window


def strip_unneeded(body: dict[str, Any]) -> dict[str, Any]:
    """The body without tools when `tool_choice` is "none" (for models without tool support)."""
    if body.get("tool_choice") == "none" and body.get("tools"):
        return {k: v for k, v in body.items() if k not in ("tools", "tool_choice")}
    return body
