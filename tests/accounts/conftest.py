"""Session-wide real PostgreSQL and Redis; every test starts from empty tables and keys."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from accounts import migrate
from accounts.schema import TABLES_IN_TRUNCATE_ORDER, sync_url
from accounts.service import AccountsService
from accounts.settings import AccountsSettings
from accounts.tiers import DEFAULT_LIMITS, TierLimits
from accounts.usage import OutboxDrainer, OutboxSink
from routing.catalog import ModelSpec
from tests.accounts.servers import Postgres, RedisProcess

ADMIN_KEY = "admin-" + "x" * 40
PEPPER = b"test-pepper-0123456789abcdef"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    # Not tmp_path_factory: concurrent pytest runs on this machine rotate its numbered dirs
    # away, which would delete a live database directory under our feet.
    path = Path(tempfile.mkdtemp(prefix="mf-accounts-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(workdir: Path) -> Iterator[Postgres]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # pgserver's platformdirs
        server = Postgres(workdir / "pg")
    migrate.upgrade(server.url())
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_server(workdir: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(workdir / "redis")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def engine(pg: Postgres) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(sync_url(pg.url()), pool_pre_ping=True, pool_size=10)
    async with eng.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES_IN_TRUNCATE_ORDER)} CASCADE"))
    yield eng
    await eng.dispose()


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, socket_timeout=2, socket_connect_timeout=2)
    await client.flushdb()
    yield client
    await client.aclose()


def make_settings(**limits: TierLimits) -> AccountsSettings:
    merged = dict(DEFAULT_LIMITS)
    merged.update(limits)
    return AccountsSettings(limits=merged)


@pytest.fixture
def settings() -> AccountsSettings:
    return make_settings()


@pytest.fixture
def outbox_dir(workdir: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="outbox-", dir=workdir))


@pytest.fixture
def build_service(engine, redis, outbox_dir, settings):
    """Factory so a test can tweak settings or the clock, or build a second 'router process'."""

    def build(**overrides) -> AccountsService:
        kwargs = dict(
            engine=engine,
            redis=redis,
            sink=OutboxSink(outbox_dir),
            pepper=PEPPER,
            admin_key=ADMIN_KEY,
            settings=settings,
        )
        kwargs.update(overrides)
        return AccountsService(**kwargs)

    return build


@pytest.fixture
def service(build_service) -> AccountsService:
    return build_service()


@pytest.fixture
def drainer(pg: Postgres, outbox_dir: Path) -> Iterator[OutboxDrainer]:
    d = OutboxDrainer(OutboxSink(outbox_dir), pg.url())
    yield d
    d.close()


@pytest.fixture
def model() -> ModelSpec:
    # $1 per 1M input tokens, $2 per 1M output tokens: a 100-in/100-out request costs $0.0003.
    return ModelSpec(
        id="tiny-chat",
        cost_per_1m_input=1.0,
        cost_per_1m_output=2.0,
        max_output_tokens=512,
        demo=True,
    )


@pytest.fixture
def paid_model() -> ModelSpec:
    return ModelSpec(id="big-chat", cost_per_1m_input=10.0, cost_per_1m_output=30.0)


def request_id() -> str:
    return uuid.uuid4().hex + secrets.token_hex(2)


@pytest.fixture(scope="session")
def tokenizing_upstream():
    from tests.accounts.tokenizing_upstream import start_tokenizing_upstream

    upstream = start_tokenizing_upstream()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def server_limits():
    """The server limits the module's router runs with: production's (a module may override)."""
    from router.server_limits import ServerLimits

    return ServerLimits()


@pytest.fixture(scope="module")
def rig(moto_endpoint, pg, redis_server, workdir, tokenizing_upstream, server_limits):
    """The real router with accounts over HTTP (one per test module)."""
    from tests.accounts.http_rig import start_rig

    started = start_rig(
        moto_endpoint,
        pg.url(),
        redis_server.url,
        workdir,
        tokenizing_upstream,
        server_limits.uvicorn_options(),
    )
    yield started
    started.harness.stop()
