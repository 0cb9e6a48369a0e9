"""What the server and its backend child say to each other over the pipe.

Plain dataclasses so they pickle cheaply; the child never sees HTTP objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Constraint:
    """An llguidance Lark grammar the output must match; `param` names the request field it
    came from, for the 400 a grammar the backend cannot compile gets."""

    grammar: str
    param: str


@dataclass(frozen=True)
class GenerationJob:
    """Either `messages` (chat) or `prompt` (raw text) is set."""

    params: GenerationParams
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    constraint: Constraint | None = None
    # Tools the answer may call, for chat templates that render them; `tool_prompt` is the
    # same list as system text, for templates that do not.
    tools: list[dict[str, Any]] | None = None
    tool_prompt: str | None = None


@dataclass(frozen=True)
class EmbeddingJob:
    """Texts or token-id lists to embed, in order."""

    inputs: list[str] | list[list[int]]


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int
    finish_reason: str = "stop"


@dataclass(frozen=True)
class GenerationEvent:
    """A piece of generated text with running token counts; the last one has `finish_reason`."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class BackendInfo:
    backend: str
    model: str
    demo: bool
    pid: int
    context_window: int
    # What this backend can do beyond plain text: structured_output, tools, embeddings.
    capabilities: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class GenerationError(Exception):
    """A request the backend refused or failed; `kind` decides the HTTP status."""

    def __init__(self, message: str, kind: str = "backend_error", param: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.param = param
