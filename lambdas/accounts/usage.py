"""Usage records and how they reach the ledger without blocking a response, loss or doubles.

The router hands each finished request to a `UsageSink`. Locally that is `OutboxSink`: an
append to a SQLite file in WAL mode (a committed record survives a router crash), drained by
`OutboxDrainer` into Postgres. In AWS it is `SqsSink`, drained by the `usage_drainer` Lambda.
Both writers insert with `ON CONFLICT (request_id) DO NOTHING` and only forget a record after
the database commit, so a crash between the two re-sends a record the ledger then ignores:
at-least-once delivery made exactly-once by the unique request id.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert as pg_insert

from accounts.schema import budgets, usage_ledger

log = logging.getLogger(__name__)


class UsageRecord(BaseModel):
    """One served (or failed-after-admission) request, as it goes into the ledger."""

    model_config = ConfigDict(extra="ignore")

    # The router's id (the ledger's unique key); the caller's x-request-id, if any, beside it.
    request_id: str = Field(min_length=1, max_length=200)
    client_request_id: str | None = Field(default=None, max_length=200)
    tier: str = "registered"
    user_id: str | None = None
    key_prefix: str | None = None
    client_ip_hash: str | None = None
    model: str
    version: str | None = None
    instance_id: str | None = None
    tokens_in: int = Field(default=0, ge=0)
    tokens_out: int = Field(default=0, ge=0)
    # Filled in by AccountsService.complete from the price table when left as None.
    cost_usd: Decimal | None = None
    latency_ms: float | None = None
    status: int = 200
    route_reason: str | None = None
    task: str | None = Field(default=None, max_length=64)
    cached: bool = False
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def hash_ip(client_ip: str, salt: bytes) -> str:
    """Demo usage is attributable to an IP for abuse reports without storing the IP itself."""
    return hashlib.sha256(salt + client_ip.encode()).hexdigest()[:32]


class UsageSink(Protocol):
    async def put(self, record: UsageRecord) -> None: ...


def _row(record: UsageRecord) -> dict[str, Any]:
    row = record.model_dump()
    row["cost_usd"] = row["cost_usd"] or Decimal(0)
    return row


# One statement for every batch: SQLAlchemy caches its compiled form, and executemany sends the
# rows as multi-row VALUES pages ("insertmanyvalues"), so a batch of 500 costs a few round trips
# and no per-row compilation.
_LEDGER_INSERT = (
    pg_insert(usage_ledger)
    .on_conflict_do_nothing(index_elements=["request_id"])
    .returning(usage_ledger.c.user_id, usage_ledger.c.cost_usd)
)


def ledger_statements(records: Sequence[UsageRecord]) -> tuple[sa.Insert, list[dict[str, Any]]]:
    """The idempotent insert and its rows; RETURNING tells which rows were new (spend once)."""
    return _LEDGER_INSERT, [_row(r) for r in records]


def budget_updates(inserted: Sequence[Any]) -> list[sa.Update]:
    """Add the cost of newly inserted rows to each user's durable spend (and flag 80 %)."""
    per_user: dict[Any, Decimal] = defaultdict(Decimal)
    for user_id, cost in inserted:
        if user_id is not None and cost:
            per_user[user_id] += Decimal(cost)
    stmts = []
    for user_id, cost in per_user.items():
        new_spent = budgets.c.spent_usd + cost
        stmts.append(
            sa.update(budgets)
            .where(budgets.c.user_id == user_id)
            .values(
                spent_usd=new_spent,
                alert_80_sent_at=sa.case(
                    (
                        sa.and_(
                            budgets.c.alert_80_sent_at.is_(None),
                            new_spent >= budgets.c.limit_usd * Decimal("0.8"),
                        ),
                        sa.func.now(),
                    ),
                    else_=budgets.c.alert_80_sent_at,
                ),
            )
        )
    return stmts


def write_ledger_sync(connection: sa.Connection, records: Sequence[UsageRecord]) -> int:
    """Insert within the caller's transaction; returns how many rows were new."""
    if not records:
        return 0
    stmt, rows = ledger_statements(records)
    inserted = connection.execute(stmt, rows).all()
    for stmt in budget_updates(inserted):
        connection.execute(stmt)
    return len(inserted)


class OutboxSink:
    """Durable local spool: SQLite in WAL mode under the router's data dir.

    `synchronous=NORMAL` in WAL mode: a committed record is in the WAL file (the OS page cache)
    before `put` returns, so a router crash or kill loses nothing, and a put costs tens of
    microseconds instead of an fsync (about 5 ms here, which is what the client used to wait
    for). What an OS crash or power loss could lose is bounded by the drainer, which forces the
    WAL to disk with a checkpoint on every pass (once a second).
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "usage-outbox.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS outbox ("
            " request_id TEXT PRIMARY KEY, body TEXT NOT NULL, attempts INTEGER DEFAULT 0)"
        )

    def put_sync(self, record: UsageRecord) -> None:
        with self._lock:
            # A duplicate put of the same request id is absorbed here already.
            self._db.execute(
                "INSERT OR IGNORE INTO outbox (request_id, body) VALUES (?, ?)",
                (record.request_id, record.model_dump_json()),
            )

    async def put(self, record: UsageRecord) -> None:
        # Inline: a WAL append is cheaper than the hop to a worker thread.
        self.put_sync(record)

    async def put_many(self, records: Sequence[UsageRecord]) -> None:
        """A batch in one transaction: one WAL commit however many records."""
        rows = [(r.request_id, r.model_dump_json()) for r in records]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO outbox (request_id, body) VALUES (?, ?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def peek(self, limit: int) -> list[UsageRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM outbox ORDER BY rowid LIMIT ?", (limit,)
            ).fetchall()
        return [UsageRecord.model_validate_json(body) for (body,) in rows]

    def remove(self, request_ids: Sequence[str]) -> None:
        # One transaction for the batch: in autocommit mode every DELETE was its own commit.
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "DELETE FROM outbox WHERE request_id = ?", [(rid,) for rid in request_ids]
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def sync(self) -> None:
        """Force everything committed so far onto the disk (the WAL and the database)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def pending(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class OutboxDrainer:
    """Moves outbox records into Postgres in batches; a failed batch stays in the outbox."""

    def __init__(self, outbox: OutboxSink, database_url: str, batch_size: int = 500) -> None:
        from accounts.schema import sync_url

        self.outbox = outbox
        self.batch_size = batch_size
        self.engine = sa.create_engine(
            sync_url(database_url),
            pool_pre_ping=True,
            pool_size=1,
            max_overflow=0,
            hide_parameters=True,
        )
        self.last_error: str | None = None

    def drain_once_sync(self) -> int:
        """Drain everything pending; returns records moved. Raises if the database is down."""
        moved = 0
        while True:
            batch = self.outbox.peek(self.batch_size)
            if not batch:
                self.outbox.sync()
                return moved
            with self.engine.begin() as connection:
                write_ledger_sync(connection, batch)
            # Only after commit: a crash right here re-sends rows the ledger then ignores.
            self.outbox.remove([r.request_id for r in batch])
            moved += len(batch)

    async def drain_once(self) -> int:
        return await asyncio.to_thread(self.drain_once_sync)

    async def run(self, interval_s: float = 1.0) -> None:
        """Background loop for the router's lifespan; survives database outages."""
        while True:
            try:
                await self.drain_once()
                self.last_error = None
            except Exception as exc:
                self.last_error = type(exc).__name__
                log.warning("usage outbox drain failed (%s); will retry", type(exc).__name__)
            await asyncio.sleep(interval_s)

    def close(self) -> None:
        self.engine.dispose()


class SqsSink:
    """AWS sink: one SQS message per record (standard queue; the ledger deduplicates)."""

    def __init__(self, queue_url: str, client: Any = None) -> None:
        if client is None:
            import boto3  # imported lazily: local runs never pay for it

            client = boto3.client("sqs")
        self.client = client
        self.queue_url = queue_url

    def put_sync(self, record: UsageRecord) -> None:
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=record.model_dump_json())

    async def put(self, record: UsageRecord) -> None:
        await asyncio.to_thread(self.put_sync, record)

    def put_many_sync(self, records: Sequence[UsageRecord]) -> None:
        for start in range(0, len(records), 10):  # SQS takes at most 10 per batch
            chunk = records[start : start + 10]
            reply = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "MessageBody": r.model_dump_json()} for i, r in enumerate(chunk)
                ],
            )
            for failed in reply.get("Failed") or []:
                # Resend one by one; a second failure raises and the intent stays in Redis.
                self.put_sync(chunk[int(failed["Id"])])

    async def put_many(self, records: Sequence[UsageRecord]) -> None:
        await asyncio.to_thread(self.put_many_sync, records)


def records_from_json(bodies: Sequence[str]) -> list[UsageRecord]:
    return [UsageRecord.model_validate(json.loads(b)) for b in bodies]
