"""Opt-in conversation history, always scoped to the calling user."""

from __future__ import annotations

from typing import Any

from accounts.errors import NotFound
from accounts.store import AccountsStore


class Conversations:
    def __init__(self, store: AccountsStore) -> None:
        self.store = store

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

    async def list_conversations(self, user_id: str) -> list[dict[str, Any]]:
        return await self.store.list_conversations(user_id)

    async def get_conversation(self, user_id: str, conversation_id: str) -> dict[str, Any]:
        found = await self.store.get_conversation(user_id, conversation_id)
        if found is None:
            raise NotFound("No such conversation.")
        return found

    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        if not await self.store.delete_conversation(user_id, conversation_id):
            raise NotFound("No such conversation.")
