"""Building the accounts service: SQS-backed in Lambda, migrated database and outbox locally."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from contracts import env
from router.services import Services


def _pepper(svc: Services) -> bytes:
    # One secret fewer to manage: the key-hash pepper is derived from the signing key.
    return hmac.new(svc.signer_key, b"api-key-pepper", hashlib.sha256).digest()


def _accounts_settings(svc: Services) -> Any:
    from accounts.settings import AccountsSettings

    return AccountsSettings.model_validate(svc.routing_config.get("accounts") or {})


def lambda_service(svc: Services) -> Any:
    """In Lambda usage goes to SQS (a drainer Lambda writes it); migrations run elsewhere."""
    from accounts.bootstrap import build_service
    from accounts.dbconfig import database_url
    from accounts.usage import SqsSink

    settings = svc.settings
    return build_service(
        database_url(),
        settings.redis_url or "",
        SqsSink(settings.usage_queue_url or ""),
        _pepper(svc),
        svc.admin_key,
        _accounts_settings(svc),
    )


async def start_local(svc: Services) -> Any:
    """Locally the router migrates the database and drains a disk outbox into PostgreSQL."""
    from accounts.bootstrap import start_local as start
    from accounts.redaction import install

    install()
    settings = svc.settings
    return await start(
        settings.database_url or "",
        settings.redis_url or "",
        settings.data_dir or ".local",
        svc.admin_key,
        _accounts_settings(svc),
        # The local stack runs the drainer as its own process; a bare router drains itself.
        drain=os.environ.get(env.OUTBOX_DRAINER) != "external",
        # The local stack migrates once before starting its routers (devstack.stack).
        migrate=os.environ.get(env.MIGRATIONS) != "external",
    )
