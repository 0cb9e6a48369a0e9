"""Migrations outside the router: `python -m accounts.migrate`, which the local stack runs once
before its routers start, and routers that never load alembic."""

from __future__ import annotations

import os
import subprocess
import sys

from accounts import migrate


def test_a_router_that_does_not_migrate_never_loads_alembic() -> None:
    # alembic and its templates are about 8 MB that a router would otherwise hold for its life.
    code = (
        "import sys, accounts.bootstrap, router.accounts_policy.startup, router.main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_migrate_command_brings_a_database_to_head(pg) -> None:
    def run(*args: str) -> str:
        cmd = [sys.executable, "-m", "accounts.migrate", *args, pg.url()]
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()

    run("upgrade")
    head = migrate.current(pg.url())
    assert head is not None
    assert run("current") == head


def test_the_migrate_command_needs_a_database() -> None:
    cmd = [sys.executable, "-m", "accounts.migrate", "upgrade"]
    env = {k: v for k, v in os.environ.items() if k != "MOTHERFLUXER_DATABASE_URL"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert "MOTHERFLUXER_DATABASE_URL" in out.stderr
