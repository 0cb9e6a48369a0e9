"""Wiring helpers: build the accounts layer for the local stack or for Lambda."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import create_async_engine

from accounts.schema import sync_url
from accounts.service import AccountsService
from accounts.settings import AccountsSettings
from accounts.usage import OutboxDrainer, OutboxSink, UsageSink


def load_or_create_pepper(path: str | Path) -> bytes:
    """Local stack only: a random pepper kept beside the data (AWS reads it from a secret)."""
    path = Path(path)
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    pepper = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pepper)
    return pepper


def build_service(
    database_url: str,
    redis_url: str,
    sink: UsageSink,
    pepper: bytes,
    admin_key: str | None,
    settings: AccountsSettings | None = None,
) -> AccountsService:
    settings = settings or AccountsSettings()
    # hide_parameters: an error's text (logged with its traceback) never carries row values,
    # such as part of a key's stored hash.
    engine = create_async_engine(
        sync_url(database_url), pool_pre_ping=True, pool_size=5, hide_parameters=True
    )
    redis = Redis.from_url(
        redis_url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )
    return AccountsService(engine, redis, sink, pepper, admin_key, settings)


@dataclass
class LocalAccounts:
    service: AccountsService
    drainer: OutboxDrainer
    # None when another process drains the outbox (`accounts.outbox_process`).
    task: asyncio.Task | None

    async def close(self) -> None:
        """Stop draining (after one last drain attempt) and release connections."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            with contextlib.suppress(Exception):
                await self.drainer.drain_once()
        self.drainer.close()
        self.drainer.outbox.close()
        await self.service.aclose()
        await self.service.store.engine.dispose()


async def start_local(
    database_url: str,
    redis_url: str,
    data_dir: str | Path,
    admin_key: str | None,
    settings: AccountsSettings | None = None,
    drain_interval_s: float = 1.0,
    drain: bool = True,
    migrate: bool = True,
) -> LocalAccounts:
    """Migrate (unless that was done before), build the service with a disk outbox, and start
    the background drainer."""
    if migrate:
        # Imported here: alembic and its templates are about 8 MB a router that does not
        # migrate never needs to hold.
        from accounts import migrate as migrations

        await asyncio.to_thread(migrations.upgrade, database_url)
    data_dir = Path(data_dir)
    outbox = OutboxSink(data_dir)
    pepper = load_or_create_pepper(data_dir / "key-pepper")
    service = build_service(database_url, redis_url, outbox, pepper, admin_key, settings)
    await service.refresh_prices()
    drainer = OutboxDrainer(outbox, database_url)
    task = None
    if drain:
        task = asyncio.create_task(drainer.run(drain_interval_s), name="usage-outbox-drainer")
    return LocalAccounts(service, drainer, task)
