"""Postgres queries for opt-in conversation history (always scoped to one user)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.schema import conversations, messages
from accounts.store import jsonable


class ConversationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save_messages(
        self,
        user_id: str,
        conversation_id: str | None,
        new_messages: list[dict[str, str]],
        model: str | None,
        title: str | None,
        new_id: str | None = None,
    ) -> str:
        uid = uuid.UUID(user_id)
        async with self.engine.begin() as conn:
            if conversation_id is None:
                # The router may pick the id itself, to announce it before the answer ends.
                cid = uuid.UUID(new_id) if new_id else uuid.uuid4()
                await conn.execute(
                    sa.insert(conversations).values(id=cid, user_id=uid, title=title)
                )
            else:
                cid = uuid.UUID(conversation_id)
                updated = await conn.execute(
                    sa.update(conversations)
                    .where(conversations.c.id == cid, conversations.c.user_id == uid)
                    .values(updated_at=sa.func.now())
                )
                if updated.rowcount == 0:
                    raise LookupError(conversation_id)
            if new_messages:
                await conn.execute(
                    sa.insert(messages),
                    [
                        {
                            "conversation_id": cid,
                            "role": m["role"],
                            "content": m["content"],
                            "model": model,
                        }
                        for m in new_messages
                    ],
                )
        return str(cid)

    async def list_conversations(self, user_id: str) -> list[dict[str, Any]]:
        query = (
            sa.select(
                conversations.c.id,
                conversations.c.title,
                conversations.c.created_at,
                conversations.c.updated_at,
            )
            .where(conversations.c.user_id == uuid.UUID(user_id))
            .order_by(conversations.c.updated_at.desc())
        )
        async with self.engine.connect() as conn:
            return [jsonable(r) for r in (await conn.execute(query)).all()]

    async def get_conversation(self, user_id: str, conversation_id: str) -> dict[str, Any] | None:
        cid = uuid.UUID(conversation_id)
        async with self.engine.connect() as conn:
            head = (
                await conn.execute(
                    sa.select(
                        conversations.c.id,
                        conversations.c.title,
                        conversations.c.created_at,
                        conversations.c.updated_at,
                    ).where(
                        conversations.c.id == cid, conversations.c.user_id == uuid.UUID(user_id)
                    )
                )
            ).first()
            if head is None:
                return None
            rows = await conn.execute(
                sa.select(
                    messages.c.role, messages.c.content, messages.c.model, messages.c.created_at
                )
                .where(messages.c.conversation_id == cid)
                .order_by(messages.c.id)
            )
            out = jsonable(head)
            out["messages"] = [jsonable(r) for r in rows.all()]
        return out

    async def delete_conversation(self, user_id: str, conversation_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(conversations).where(
                    conversations.c.id == uuid.UUID(conversation_id),
                    conversations.c.user_id == uuid.UUID(user_id),
                )
            )
        return result.rowcount > 0
