"""Postgres queries for accounts (async SQLAlchemy Core over psycopg 3)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from accounts.keys import KeyRecord
from accounts.pricing import Price
from accounts.schema import api_keys, budgets, prices, usage_ledger, users

LEDGER_COLUMNS = (
    "request_id",
    "client_request_id",
    "created_at",
    "model",
    "version",
    "instance_id",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "latency_ms",
    "status",
    "route_reason",
    "task",
    "cached",
    "user_id",
    "key_prefix",
    "tier",
)


@dataclass(frozen=True, slots=True)
class UsageFilter:
    user_id: str | None = None
    model: str | None = None
    version: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        c = usage_ledger.c
        conds: list[sa.ColumnElement[bool]] = []
        if self.user_id is not None:
            conds.append(c.user_id == uuid.UUID(self.user_id))
        if self.model is not None:
            conds.append(c.model == self.model)
        if self.version is not None:
            conds.append(c.version == self.version)
        if self.since is not None:
            conds.append(c.created_at >= self.since)
        if self.until is not None:
            conds.append(c.created_at < self.until)
        return conds


def jsonable(row: Any) -> dict[str, Any]:
    out = {}
    for k, v in row._mapping.items():
        if isinstance(v, uuid.UUID):
            v = str(v)
        elif isinstance(v, datetime):
            v = v.astimezone(UTC).isoformat()
        elif isinstance(v, Decimal):
            v = str(v.normalize()) if v else "0"
        out[k] = v
    return out


class AccountsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_user(self, name: str, tier: str) -> str:
        user_id = uuid.uuid4()
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(users).values(id=user_id, name=name, tier=tier))
        return str(user_id)

    async def user_exists(self, user_id: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                sa.select(users.c.id).where(users.c.id == uuid.UUID(user_id))
            )
            return found.first() is not None

    async def user_tier(self, user_id: str) -> str | None:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                sa.select(users.c.tier).where(users.c.id == uuid.UUID(user_id))
            )
            return found.scalar_one_or_none()

    async def insert_key(
        self,
        user_id: str,
        prefix: str,
        secret_hash: bytes,
        scopes: tuple[str, ...],
        tier_override: str | None,
        expires_at: datetime | None,
        optimize: str | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(api_keys).values(
                    prefix=prefix,
                    secret_hash=secret_hash,
                    user_id=uuid.UUID(user_id),
                    scopes=list(scopes),
                    tier_override=tier_override,
                    expires_at=expires_at,
                    optimize=optimize,
                )
            )

    async def load_key(self, prefix: str) -> KeyRecord | None:
        query = (
            sa.select(
                api_keys.c.prefix,
                api_keys.c.secret_hash,
                api_keys.c.user_id,
                api_keys.c.scopes,
                api_keys.c.tier_override,
                api_keys.c.expires_at,
                api_keys.c.revoked_at,
                api_keys.c.optimize,
                users.c.tier,
                users.c.disabled,
            )
            .join(users, users.c.id == api_keys.c.user_id)
            .where(api_keys.c.prefix == prefix)
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            # Written once per cache refill (≤ every 30 s per process), not per request.
            await conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.prefix == prefix)
                .values(last_used_at=sa.func.now())
            )
        return KeyRecord(
            prefix=row.prefix,
            secret_hash=bytes(row.secret_hash),
            user_id=str(row.user_id),
            tier=row.tier_override or row.tier,
            scopes=tuple(row.scopes or ()),
            expires_at=row.expires_at,
            revoked=row.revoked_at is not None,
            user_disabled=row.disabled,
            optimize=row.optimize,
        )

    async def set_key_optimize(self, prefix: str, optimize: str | None) -> bool:
        """Set (or clear, with None) an active key's default goal; False: no such key."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                .values(optimize=optimize)
            )
        return result.rowcount > 0

    async def revoke_key(self, prefix: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=sa.func.now())
            )
        return result.rowcount > 0

    async def set_budget(self, user_id: str, limit_usd: Decimal, period: str) -> None:
        stmt = pg_insert(budgets).values(
            user_id=uuid.UUID(user_id), limit_usd=limit_usd, period=period
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                "limit_usd": stmt.excluded.limit_usd,
                "period": stmt.excluded.period,
                "alert_80_sent_at": None,
                "updated_at": sa.func.now(),
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    async def budget_seed(self, user_id: str) -> tuple[Decimal, str, Decimal] | None:
        """(limit, period, spent in the current period) or None when the user has no budget.

        Spend is summed from the ledger, which is what the budget guards; records still in an
        outbox are not there yet, which is why Redis, not this, is the live counter.
        """
        uid = uuid.UUID(user_id)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(budgets.c.limit_usd, budgets.c.period).where(budgets.c.user_id == uid)
                )
            ).first()
            if row is None:
                return None
            query = sa.select(sa.func.coalesce(sa.func.sum(usage_ledger.c.cost_usd), 0)).where(
                usage_ledger.c.user_id == uid
            )
            if row.period == "monthly":
                start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                query = query.where(usage_ledger.c.created_at >= start)
            spent = (await conn.execute(query)).scalar_one()
        return Decimal(row.limit_usd), row.period, Decimal(spent)

    async def load_prices(self) -> dict[tuple[str, str | None], Price]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(prices))).all()
        return {
            (r.model, r.version): Price(
                r.input_per_1m, r.output_per_1m, r.instance_hour_usd, r.measured_tokens_per_s
            )
            for r in rows
        }

    async def set_price(self, model: str, version: str | None, price: Price) -> None:
        # Delete-then-insert: the unique (model, version) key treats NULL versions as distinct.
        match = prices.c.version.is_(None) if version is None else prices.c.version == version
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(prices).where(prices.c.model == model, match))
            await conn.execute(
                sa.insert(prices).values(
                    model=model,
                    version=version,
                    input_per_1m=price.input_per_1m,
                    output_per_1m=price.output_per_1m,
                    instance_hour_usd=price.instance_hour_usd,
                    measured_tokens_per_s=price.measured_tokens_per_s,
                )
            )

    @contextlib.asynccontextmanager
    async def consistent_read(self) -> AsyncIterator[AsyncConnection]:
        """One REPEATABLE READ transaction: a report's totals and rows see the same ledger even
        while the outbox drainer keeps inserting."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def usage_rows(
        self, flt: UsageFilter, limit: int = 1000, conn: AsyncConnection | None = None
    ) -> list[dict[str, Any]]:
        cols = [usage_ledger.c[name] for name in LEDGER_COLUMNS]
        query = (
            sa.select(*cols)
            .where(*flt.where())
            .order_by(usage_ledger.c.created_at, usage_ledger.c.id)
            .limit(limit)
        )
        if conn is not None:
            return [jsonable(r) for r in (await conn.execute(query)).all()]
        async with self.engine.connect() as own:
            return [jsonable(r) for r in (await own.execute(query)).all()]

    async def usage_groups(
        self, flt: UsageFilter, *group: str, conn: AsyncConnection | None = None
    ) -> list[dict[str, Any]]:
        c = usage_ledger.c
        keys = [c[g] for g in group]
        query = (
            sa.select(
                *keys,
                sa.func.count().label("requests"),
                sa.func.coalesce(sa.func.sum(c.tokens_in), 0).label("tokens_in"),
                sa.func.coalesce(sa.func.sum(c.tokens_out), 0).label("tokens_out"),
                sa.func.coalesce(sa.func.sum(c.cost_usd), 0).label("cost_usd"),
                sa.func.avg(c.latency_ms).label("avg_latency_ms"),
                sa.func.count().filter(c.status >= 400).label("errors"),
            )
            .where(*flt.where())
            .group_by(*keys)
            .order_by(*keys)
        )
        if conn is not None:
            rows = [jsonable(r) for r in (await conn.execute(query)).all()]
        else:
            async with self.engine.connect() as own:
                rows = [jsonable(r) for r in (await own.execute(query)).all()]
        for r in rows:
            r["tokens_in"] = int(r["tokens_in"])
            r["tokens_out"] = int(r["tokens_out"])
        return rows
