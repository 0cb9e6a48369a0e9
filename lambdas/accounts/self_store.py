"""Postgres queries behind self-service keys and the admin user directory.

Kept apart from `store.py` (the hot path's queries): nothing here runs per model request.
Every key query is scoped by the owner's user id in SQL, so one user can never list, name or
revoke another's key, whatever prefix they send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.schema import api_keys, budgets, usage_ledger, users
from accounts.store import jsonable


class KeyLimitReached(Exception):
    """The user already holds the most active keys allowed."""


@dataclass(frozen=True, slots=True)
class NewKeyRow:
    user_id: str
    prefix: str
    secret_hash: bytes
    scopes: tuple[str, ...]
    name: str | None
    expires_at: datetime | None


def _active() -> sa.ColumnElement[bool]:
    return api_keys.c.revoked_at.is_(None) & (
        api_keys.c.expires_at.is_(None) | (api_keys.c.expires_at > sa.func.now())
    )


class SelfServiceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def insert_key_within_limit(self, row: NewKeyRow, max_active: int) -> None:
        """Insert the key unless the user already holds `max_active` active ones.

        The user's row is locked first, so two concurrent creates cannot both see room for one.
        """
        uid = uuid.UUID(row.user_id)
        async with self.engine.begin() as conn:
            await conn.execute(sa.select(users.c.id).where(users.c.id == uid).with_for_update())
            count = (
                await conn.execute(
                    sa.select(sa.func.count()).where(api_keys.c.user_id == uid, _active())
                )
            ).scalar_one()
            if count >= max_active:
                raise KeyLimitReached()
            await conn.execute(
                sa.insert(api_keys).values(
                    prefix=row.prefix,
                    secret_hash=row.secret_hash,
                    user_id=uid,
                    scopes=list(row.scopes),
                    name=row.name,
                    expires_at=row.expires_at,
                )
            )

    async def keys_of(self, user_id: str) -> list[dict[str, Any]]:
        c = api_keys.c
        query = (
            sa.select(
                c.prefix,
                c.name,
                c.scopes,
                c.created_at,
                c.last_used_at,
                c.expires_at,
                c.revoked_at,
            )
            .where(c.user_id == uuid.UUID(user_id))
            .order_by(c.created_at.desc(), c.prefix)
        )
        async with self.engine.connect() as conn:
            rows = [jsonable(r) for r in (await conn.execute(query)).all()]
        for r in rows:
            r["scopes"] = list(r["scopes"] or [])
            r["revoked"] = r["revoked_at"] is not None
        return rows

    async def revoke_own_key(self, user_id: str, prefix: str) -> bool:
        """Revoke `prefix` only if it is this user's and still active."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(api_keys)
                .where(
                    api_keys.c.prefix == prefix,
                    api_keys.c.user_id == uuid.UUID(user_id),
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=sa.func.now())
            )
        return result.rowcount > 0

    async def users_page(
        self, limit: int, offset: int, newest_first: bool = False
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of every user (oldest first unless asked) with active key counts and
        budgets; and the total number of users."""
        keys = (
            sa.select(api_keys.c.user_id, sa.func.count().label("keys"))
            .where(_active())
            .group_by(api_keys.c.user_id)
            .subquery()
        )
        query = (
            sa.select(
                users.c.id,
                users.c.name,
                users.c.tier,
                users.c.created_at,
                users.c.disabled,
                sa.func.coalesce(keys.c["keys"], 0).label("keys"),
                budgets.c.limit_usd.label("budget_usd"),
                budgets.c.period.label("budget_period"),
            )
            .outerjoin(keys, keys.c.user_id == users.c.id)
            .outerjoin(budgets, budgets.c.user_id == users.c.id)
            .order_by(
                *(
                    (users.c.created_at.desc(), users.c.id.desc())
                    if newest_first
                    else (users.c.created_at, users.c.id)
                )
            )
            .limit(limit)
            .offset(offset)
        )
        async with self.engine.connect() as conn:
            rows = [jsonable(r) for r in (await conn.execute(query)).all()]
            total = (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one()
        return rows, int(total)

    async def spend_by_user(
        self, user_ids: list[str], month_start: datetime
    ) -> dict[str, tuple[Decimal, Decimal]]:
        """(all-time, this month) ledger spend per user, for the users given."""
        if not user_ids:
            return {}
        c = usage_ledger.c
        query = (
            sa.select(
                c.user_id,
                sa.func.coalesce(sa.func.sum(c.cost_usd), 0).label("total"),
                sa.func.coalesce(
                    sa.func.sum(c.cost_usd).filter(c.created_at >= month_start), 0
                ).label("month"),
            )
            .where(c.user_id.in_([uuid.UUID(u) for u in user_ids]))
            .group_by(c.user_id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {str(r.user_id): (Decimal(r.total), Decimal(r.month)) for r in rows}
