"""Ratings of served requests: one per request, only by the key (or user) that made it.

A rating copies the ledger row's model, version, instance and task, so reports and the routing
history read feedback per model version without joining back to the ledger. The request is
named by the router's id (`x-motherfluxer-request-id`) or by the caller's own `x-request-id`
when that names exactly one of the caller's rows; anything the caller did not make is "not
found", never "forbidden", so ids of other callers cannot be probed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from accounts.errors import NotFound
from accounts.schema import metadata, usage_ledger
from accounts.tiers import Caller

# Thumbs (-1, 1) or stars (1..5); 1 is "thumbs up" or "one star" alike, as the caller means it.
VALID_SCORES = frozenset({-1, 1, 2, 3, 4, 5})

# Created by migration 0004_feedback; declared beside the only queries that write it.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column(
        "request_id",
        sa.Text,
        sa.ForeignKey("usage_ledger.request_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("user_id", UUID(as_uuid=True), nullable=True),
    sa.Column("key_prefix", sa.Text, nullable=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=True),
    sa.Column("instance_id", sa.Text, nullable=True),
    sa.Column("task", sa.Text, nullable=True),
    sa.Column("score", sa.SmallInteger, nullable=False),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("score IN (-1, 1, 2, 3, 4, 5)", name="feedback_score_valid"),
    sa.Index("feedback_model_version", "model", "version"),
)

NOT_YOURS = "No request with that id was made by this key."


@dataclass(frozen=True, slots=True)
class Rating:
    request_id: str
    model: str
    version: str | None
    instance_id: str | None
    task: str | None
    score: int
    comment: str | None
    updated: bool

    def body(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "model": self.model,
            "version": self.version,
            "instance_id": self.instance_id,
            "task": self.task,
            "score": self.score,
            "comment": self.comment,
            "updated": self.updated,
        }


def _owned_by(caller: Caller) -> sa.ColumnElement[bool] | None:
    """The rows `caller` made: by its key when it has one, else by its (signed-in) user."""
    c = usage_ledger.c
    if caller.key_prefix and caller.key_prefix != "admin":
        return c.key_prefix == caller.key_prefix
    if caller.user_id:
        return sa.and_(c.user_id == uuid.UUID(caller.user_id), c.key_prefix.is_(None))
    return None  # anonymous callers and the operator key own no ledger rows


class FeedbackStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def _row(self, conn: AsyncConnection, owner: sa.ColumnElement[bool], ref: str) -> Any:
        c = usage_ledger.c
        cols = (c.request_id, c.user_id, c.key_prefix, c.model, c.version, c.instance_id, c.task)
        by_ours = sa.select(*cols).where(owner, c.request_id == ref)
        row = (await conn.execute(by_ours)).first()
        if row is not None:
            return row
        # The caller's own id counts only when it is unambiguous among the caller's rows.
        by_client = sa.select(*cols).where(owner, c.client_request_id == ref).limit(2)
        rows = (await conn.execute(by_client)).all()
        return rows[0] if len(rows) == 1 else None

    async def rate(self, caller: Caller, ref: str, score: int, comment: str | None) -> Rating:
        if score not in VALID_SCORES:
            raise ValueError("score must be -1, 1 or 1-5")
        owner = _owned_by(caller)
        if owner is None:
            raise NotFound(NOT_YOURS)
        async with self.engine.begin() as conn:
            row = await self._row(conn, owner, ref)
            if row is None:
                raise NotFound(NOT_YOURS)
            stmt = pg_insert(feedback).values(
                request_id=row.request_id,
                user_id=row.user_id,
                key_prefix=row.key_prefix,
                model=row.model,
                version=row.version,
                instance_id=row.instance_id,
                task=row.task,
                score=score,
                comment=comment,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["request_id"],
                set_={
                    "score": stmt.excluded.score,
                    "comment": stmt.excluded.comment,
                    "updated_at": sa.func.now(),
                },
            ).returning(sa.literal_column("xmax = 0").label("inserted"))
            updated = not (await conn.execute(stmt)).scalar_one()
        return Rating(
            row.request_id,
            row.model,
            row.version,
            row.instance_id,
            row.task,
            score,
            comment,
            updated,
        )
