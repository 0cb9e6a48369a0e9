"""The routing library's view of a request: only the fields a routing decision reads.

The router builds one from `/inference`, `/v1/chat/completions`, `/v1/completions` or
`/models/recommend` bodies (OpenAI-style messages included) and the caller's identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from routing.requirements import Requirements
from routing.scoring import estimate_tokens

FallbackMode = Literal["auto", "none"] | list[str]
IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})


class RequestView(BaseModel):
    """What routing needs to know about one request.

    `model` follows the OpenAI form: a model id (manual), "auto", or a list of ids in preference
    order. `prompt` is the text to classify (for chat, the last user turn); `context` holds the
    turns before it (at most the last three, oldest first) so a follow-up is read in context;
    `prompt_tokens`, when given, is the size of the whole conversation and is used for
    context-window fit.
    """

    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    context: tuple[str, ...] = ()
    image_count: int = Field(default=0, ge=0)
    prompt_tokens: int | None = Field(default=None, ge=0)
    model: str | list[str] | None = None
    auto_select: bool = False
    preferred_model: str | None = None
    fallback_mode: FallbackMode = "auto"
    requirements: Requirements = Requirements()
    # The optimisation goal (`routing.goals`: quality, cost, latency); None is balanced.
    goal: Literal["quality", "cost", "latency"] | None = None
    # Where the goal came from: the request's own `routing.optimize`, or its key's default.
    goal_source: Literal["request", "key"] | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    stream: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    tier: str | None = None
    user_id: str | None = None

    @property
    def has_images(self) -> bool:
        return self.image_count > 0

    def estimated_tokens(self) -> int:
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        return estimate_tokens(self.prompt, self.image_count)

    @classmethod
    def from_messages(cls, messages: Iterable[Mapping[str, Any]], **fields: Any) -> RequestView:
        """Build from OpenAI chat messages (string content or content parts, images included)."""
        messages = list(messages)
        texts, last_user, images = summarise_messages(messages)
        return cls(
            prompt=last_user,
            context=conversation_context(messages),
            image_count=images,
            prompt_tokens=estimate_tokens("\n".join(texts), images),
            **fields,
        )


def summarise_messages(messages: Iterable[Mapping[str, Any]]) -> tuple[list[str], str, int]:
    """(every text part, the last user turn's text, number of image parts)."""
    texts: list[str] = []
    last_user = ""
    images = 0
    for message in messages:
        content = message.get("content")
        parts: list[str] = []
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, Mapping):
                    continue
                kind = part.get("type")
                if kind in IMAGE_PART_TYPES:
                    images += 1
                elif kind in ("text", "input_text") and isinstance(part.get("text"), str):
                    parts.append(part["text"])
        texts.extend(parts)
        if message.get("role") == "user" and parts:
            last_user = "\n".join(parts)
    return texts, last_user, images


CONTEXT_TURNS = 3


def _text_of(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping)
            and part.get("type") in ("text", "input_text")
            and isinstance(part.get("text"), str)
        )
    return ""


def conversation_context(messages: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The user and assistant turns before the last user turn (the last three, oldest first)."""
    turns = [
        (m.get("role"), _text_of(m)) for m in messages if m.get("role") in ("user", "assistant")
    ]
    last_user = max(
        (i for i, (role, text) in enumerate(turns) if role == "user" and text), default=-1
    )
    if last_user <= 0:
        return ()
    earlier = [text for _, text in turns[:last_user] if text]
    return tuple(earlier[-CONTEXT_TURNS:])
