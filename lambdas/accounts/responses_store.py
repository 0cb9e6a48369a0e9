"""Stored Responses API answers (`store: true`), kept per API key in PostgreSQL.

A stored response holds the `Response` object (what `GET /v1/responses/{id}` returns) and the
conversation so far as chat messages (what `previous_response_id` continues). Every read and
delete is scoped to the key that stored it: another key's id is simply not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.schema import metadata

# Created by migration 0003_responses; declared here, beside the only queries that use it.
stored_responses = sa.Table(
    "stored_responses",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("key_prefix", sa.Text, nullable=False),
    sa.Column(
        "user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("response", JSONB, nullable=False),
    sa.Column("history", JSONB, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("stored_responses_key_prefix", "key_prefix"),
)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response: dict[str, Any]
    history: list[dict[str, Any]]


class ResponsesStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(
        self,
        response_id: str,
        key_prefix: str,
        user_id: str,
        response: dict[str, Any],
        history: list[dict[str, Any]],
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(stored_responses).values(
                    id=response_id,
                    key_prefix=key_prefix,
                    user_id=uuid.UUID(user_id),
                    response=response,
                    history=history,
                )
            )

    async def get(self, response_id: str, key_prefix: str) -> StoredResponse | None:
        query = sa.select(stored_responses.c.response, stored_responses.c.history).where(
            stored_responses.c.id == response_id, stored_responses.c.key_prefix == key_prefix
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else StoredResponse(row.response, row.history)

    async def delete(self, response_id: str, key_prefix: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(stored_responses).where(
                    stored_responses.c.id == response_id,
                    stored_responses.c.key_prefix == key_prefix,
                )
            )
        return result.rowcount > 0

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(sa.select(sa.func.count()).select_from(stored_responses))
                ).scalar_one()
            )
