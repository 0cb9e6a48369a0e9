"""Alembic environment: runs on the connection handed over by `accounts.migrate`."""

from __future__ import annotations

from alembic import context

from accounts.schema import metadata


def _run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through accounts.migrate, which supplies a connection")
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


_run()
