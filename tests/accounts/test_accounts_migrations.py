"""Migrations go up, down to nothing, and up again on a real PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from accounts import migrate
from accounts.migrations_handler import handler
from accounts.schema import sync_url

EXPECTED = {"users", "api_keys", "usage_ledger", "budgets", "prices", "conversations", "messages"}
# Stored Responses API answers (migration 0003_responses).
EXPECTED |= {"stored_responses"}
# Ratings (migration 0004_feedback).
EXPECTED |= {"feedback"}
HEAD = "0006_key_optimize"


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _ledger_columns(url: str) -> set[str]:
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {c["name"] for c in sa.inspect(conn).get_columns("usage_ledger")}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(pg):
    admin = sa.create_engine(
        sync_url(pg.url()), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS migtest"))
        conn.execute(sa.text("CREATE DATABASE migtest"))
    admin.dispose()
    url = pg.url("migtest")

    assert migrate.current(url) is None
    migrate.upgrade(url)
    assert _tables(url) == EXPECTED
    assert migrate.current(url) == HEAD
    assert {"client_request_id", "task"} <= _ledger_columns(url)
    migrate.downgrade(url, "0004_feedback")
    assert "feedback" in _tables(url)
    migrate.upgrade(url)
    migrate.downgrade(url, "0003_responses")
    assert "task" not in _ledger_columns(url) and "feedback" not in _tables(url)
    migrate.upgrade(url)
    migrate.downgrade(url, "0001_initial")
    assert "client_request_id" not in _ledger_columns(url)
    migrate.upgrade(url)

    migrate.downgrade(url, "base")
    assert _tables(url) == set()
    assert migrate.current(url) is None

    migrate.upgrade(url)
    assert _tables(url) == EXPECTED


def test_custom_resource_upgrades_on_create_and_ignores_delete(pg, monkeypatch):
    monkeypatch.setenv("MOTHERFLUXER_DATABASE_URL", pg.url())
    created = handler({"RequestType": "Create"}, None)
    assert created["Data"]["Revision"] == HEAD
    deleted = handler(
        {"RequestType": "Delete", "PhysicalResourceId": created["PhysicalResourceId"]}, None
    )
    assert deleted["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert migrate.current(pg.url()) == HEAD
