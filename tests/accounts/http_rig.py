"""The real router with accounts, over HTTP, in front of the tokenizing upstream.

PostgreSQL and Redis are the session's embedded servers; each rig has its own DynamoDB table,
outbox directory and router thread, so scenarios never share limits or caches.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from accounts.schema import sync_url
from tests.accounts.tokenizing_upstream import TokenizingUpstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

MODEL = "tiny-chat"
# The local stack's prices for tiny-chat (devstack/local.json): USD per 1M tokens.
PRICE_IN, PRICE_OUT = 0.1, 0.2
DEMO_LIMITS = {"per_subject_rpm": 20, "per_subject_tpm": 20_000, "max_tokens": 64}


@dataclass
class HttpRig:
    harness: RouterHarness
    upstream: TokenizingUpstream
    database_url: str

    @property
    def url(self) -> str:
        return self.harness.url

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def admin(self) -> httpx.Client:
        return self.client(self.harness.admin_key)

    def new_user(self, tier: str = "registered", **key_fields: Any) -> tuple[str, str]:
        """(user_id, key) of a fresh user; `key_fields` go into the key request (scopes...)."""
        with self.admin() as admin:
            user = admin.post(
                "/admin/users", json={"name": f"u-{uuid.uuid4().hex[:8]}", "tier": tier}
            )
            assert user.status_code == 201, user.text
            user_id = user.json()["user_id"]
            key = admin.post(f"/admin/users/{user_id}/keys", json=key_fields)
            assert key.status_code == 201, key.text
            return user_id, key.json()["key"]

    def ledger(self, user_id: str, want: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        """The user's ledger rows once `want` are there (the outbox drains about every 0.2 s)."""
        engine = sa.create_engine(sync_url(self.database_url), poolclass=sa.pool.NullPool)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                with engine.connect() as conn:
                    rows = [
                        dict(r)
                        for r in conn.execute(
                            sa.text(
                                "SELECT request_id, client_request_id, user_id, key_prefix, "
                                "cost_usd, tokens_in, tokens_out FROM usage_ledger "
                                "WHERE user_id = :u ORDER BY id"
                            ),
                            {"u": user_id},
                        ).mappings()
                    ]
                if len(rows) >= want or time.monotonic() > deadline:
                    return rows
                time.sleep(0.1)
        finally:
            engine.dispose()


def start_rig(
    moto_endpoint: str,
    database_url: str,
    redis_url: str,
    workdir: Path,
    upstream: TokenizingUpstream,
    uvicorn_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> HttpRig:
    catalog = catalog_doc(
        model_doc(
            MODEL,
            cost_per_1m_input=PRICE_IN,
            cost_per_1m_output=PRICE_OUT,
            max_output_tokens=256,
            context_window=4096,
        ),
        accounts={
            "limits": {"demo": {**DEMO_LIMITS, "demo_models_only": True}},
            # 100 concurrent requests of one user must reach the budget, not the shed gate.
            "registered_max_in_flight": 128,
        },
    )
    data_dir = tempfile.mkdtemp(prefix="rig-", dir=workdir)
    harness = start_router(
        moto_endpoint,
        catalog,
        uvicorn_options,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=data_dir,
        **overrides,
    )
    harness.add_instance(MODEL, upstream.url, instance_id="tok-1")
    return HttpRig(harness, upstream, database_url)
