"""Programmatic alembic upgrade/downgrade, used on local start and by the deploy-time resource."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from accounts.schema import sync_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config(connection: sa.Connection) -> Config:
    # Built in code so the Lambda asset needs no alembic.ini next to it.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _run(url: str, action: str, revision: str) -> None:
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            # Router processes starting together migrate one after the other, not at once.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7271720001)"))
            getattr(command, action)(_config(connection), revision)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (default: the newest)."""
    _run(url, "upgrade", revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at `url` down to `revision` (`base` drops every accounts table)."""
    _run(url, "downgrade", revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None before the first migration."""
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """`python -m accounts.migrate [upgrade|downgrade|current] [URL]`; the URL defaults to
    MOTHERFLUXER_DATABASE_URL."""
    import argparse
    import os

    from contracts import env

    parser = argparse.ArgumentParser(prog="accounts.migrate")
    parser.add_argument(
        "action", nargs="?", default="upgrade", choices=["upgrade", "downgrade", "current"]
    )
    parser.add_argument("url", nargs="?", default=os.environ.get(env.DATABASE_URL))
    args = parser.parse_args(argv)
    if not args.url:
        parser.error(f"give a database URL or set {env.DATABASE_URL}")
    if args.action == "current":
        print(current(args.url))
    else:
        {"upgrade": upgrade, "downgrade": downgrade}[args.action](args.url)


if __name__ == "__main__":
    main()
