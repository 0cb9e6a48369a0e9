"""Request bodies at the edge: OpenAI-compatible shapes plus MotherFluxer's routing fields."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from routing.requirements import Requirements

ModelChoice = str | list[str] | None


class RoutingRequirements(Requirements):
    """The routing library's requirements, strict at the edge: an unknown key is a 422."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RoutingOptions(BaseModel):
    """`routing: {"optimize": ...}`: what the auto score favours for this request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimize: Literal["quality", "cost", "latency"] | None = None


def goal_of(routing: RoutingOptions | None) -> str | None:
    return routing.optimize if routing is not None else None


class _OpenAIBase(BaseModel):
    # Unknown OpenAI parameters pass through to the instance untouched.
    model_config = ConfigDict(extra="allow")

    # Required as on OpenAI: `"auto"` is how a caller asks for auto-selection.
    model: str | list[str]
    # OpenRouter's ordered fallback list; it follows `model` (or stands in for it).
    models: list[str] | None = Field(default=None, min_length=1, max_length=16)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)
    # MotherFluxer extensions (ignored by plain OpenAI clients).
    fallback_mode: str | list[str] | None = None
    requirements: RoutingRequirements | None = None
    routing: RoutingOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _models_fill_model(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" not in data and isinstance(data.get("models"), list):
            return {**data, "model": data["models"]}
        return data

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, value: ModelChoice) -> ModelChoice:
        if isinstance(value, list):
            if not value or not all(isinstance(v, str) and v for v in value):
                raise ValueError("model list must hold at least one model id")
            if len(value) > 16:
                raise ValueError("model list is limited to 16 entries")
        elif isinstance(value, str) and not value.strip():
            raise ValueError("model must not be empty")
        return value

    def model_order(self) -> str | list[str]:
        """`model` then OpenRouter's `models`, each once, as one preference order."""
        if not self.models:
            return self.model
        head = [] if self.model == "auto" else self.model
        head = [head] if isinstance(head, str) else list(head)
        order = list(dict.fromkeys([*head, *self.models]))
        return order[:16]


class ChatCompletionRequest(_OpenAIBase):
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    tools: list[dict[str, Any]] | None = None

    @field_validator("messages")
    @classmethod
    def _messages_have_roles(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, msg in enumerate(value):
            if not isinstance(msg.get("role"), str):
                raise ValueError(f"messages[{i}] needs a string 'role'")
            content = msg.get("content")
            if content is not None and not isinstance(content, (str, list)):
                raise ValueError(f"messages[{i}].content must be a string or a list of parts")
        return value


class CompletionRequest(_OpenAIBase):
    prompt: str | list[str] = Field(min_length=1)


class InferenceRequest(BaseModel):
    """Seed 003's `/inference` body: one of `model`, `auto_select`, or `preferred_model`."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=200_000)
    max_length: int = Field(default=64, ge=1, le=4096)
    model: str | None = None
    auto_select: bool = False
    preferred_model: str | None = None
    fallback_mode: Literal["auto", "none"] | list[str] | None = None
    requirements: RoutingRequirements | None = None
    routing: RoutingOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False
    user: str | None = Field(default=None, max_length=256)
