"""Opt-in conversation history: which conversation a request continues, and saving its turn."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from accounts.errors import Forbidden, NotFound
from accounts.tiers import Caller
from router.dispatch import Answer, BufferedAnswer

logger = logging.getLogger("motherfluxer.router")


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """`existing` when the request continues one of the caller's conversations, else `new_id`."""

    existing: str | None
    new_id: str | None

    @property
    def id(self) -> str:
        return self.existing or self.new_id or ""


def conversation_ref(caller: Caller, body: dict[str, Any]) -> ConversationRef | None:
    """The history request of a body (`save_conversation`, `conversation_id`); raises when the
    caller may not keep history or names an id that cannot exist."""
    if not body.get("save_conversation"):
        return None
    if caller.user_id is None:
        raise Forbidden("keeping conversation history needs an API key")
    existing = body.get("conversation_id")
    if existing is None:
        return ConversationRef(None, str(uuid.uuid4()))
    try:
        return ConversationRef(str(uuid.UUID(str(existing))), None)
    except ValueError:
        raise NotFound("No such conversation.") from None


def request_turns(body: dict[str, Any]) -> list[dict[str, str]]:
    if isinstance(body.get("messages"), list):
        turns = []
        for msg in body["messages"]:
            content = msg.get("content")
            if isinstance(content, list):
                content = " ".join(
                    p.get("text", "") for p in content if isinstance(p, dict) and p.get("text")
                )
            if isinstance(content, str) and msg.get("role") in ("system", "user", "assistant"):
                turns.append({"role": msg["role"], "content": content})
        return turns
    prompt = body.get("prompt")
    text = prompt if isinstance(prompt, str) else "\n".join(prompt or [])
    return [{"role": "user", "content": text}]


async def save_turn(
    service: Any,
    caller: Caller,
    ref: ConversationRef,
    body: dict[str, Any],
    answer: str,
    model: str | None,
    request_id: str,
) -> bool:
    turns = request_turns(body)
    if ref.existing is not None:
        # The client resends the whole conversation; only its newest turn is new here.
        turns = turns[-1:]
    turns.append({"role": "assistant", "content": answer})
    try:
        await service.save_conversation(
            caller.user_id,
            turns,
            conversation_id=ref.existing,
            model=model,
            title=None if ref.existing else turns[0]["content"][:80],
            new_id=ref.new_id,
        )
    except Exception:
        # History is a convenience, never a reason to fail the answer; the answer says so.
        logger.warning("could not save conversation for request %s", request_id)
        return False
    return True


async def say_whether_saved(history: asyncio.Task[bool] | None, answer: Answer) -> None:
    """A buffered answer names its conversation only once the turn is saved; a stream's turn
    is saved after its last chunk, so it says `pending` (GET /v1/conversations/{id} confirms)."""
    extra = answer.route.extra
    if not isinstance(answer, BufferedAnswer):
        extra["x-motherfluxer-conversation-saved"] = "pending"
        return
    saved = bool(await history) if history is not None else False
    extra["x-motherfluxer-conversation-saved"] = "true" if saved else "false"
    if not saved:
        extra.pop("x-motherfluxer-conversation-id", None)
