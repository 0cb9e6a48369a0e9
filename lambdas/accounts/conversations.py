"""Opt-in conversation history, always scoped to the calling user."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from accounts.conversation_store import ConversationStore
from accounts.errors import HistoryUnavailable, NotFound

T = TypeVar("T")


def _db_outage_is_unavailable(
    fn: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return await fn(*args, **kwargs)
        except (SQLAlchemyError, OSError):
            raise HistoryUnavailable(
                "Conversation history is temporarily unavailable.", retry_after=5
            ) from None

    return wrapper


class Conversations:
    def __init__(self, store: ConversationStore) -> None:
        self.store = store

    @_db_outage_is_unavailable
    async def save_conversation(
        self,
        user_id: str,
        messages: list[dict[str, str]],
        conversation_id: str | None = None,
        model: str | None = None,
        title: str | None = None,
        new_id: str | None = None,
    ) -> str:
        try:
            return await self.store.save_messages(
                user_id, conversation_id, messages, model, title, new_id
            )
        except LookupError:
            raise NotFound("No such conversation.") from None

    @_db_outage_is_unavailable
    async def list_conversations(self, user_id: str) -> list[dict[str, Any]]:
        return await self.store.list_conversations(user_id)

    @_db_outage_is_unavailable
    async def get_conversation(self, user_id: str, conversation_id: str) -> dict[str, Any]:
        found = await self.store.get_conversation(user_id, conversation_id)
        if found is None:
            raise NotFound("No such conversation.")
        return found

    @_db_outage_is_unavailable
    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        if not await self.store.delete_conversation(user_id, conversation_id):
            raise NotFound("No such conversation.")
