"""The fault suite's rig: the real router (with accounts) in front of fault-injecting upstreams.

Every test gets its own router process-in-a-thread on its own DynamoDB table, so breaker state,
snapshot overrides and the per-process retry budget never leak from one scenario into the next.
PostgreSQL and Redis are real embedded servers shared by the session; each test creates its own
user and key, and every request carries its own `x-request-id` so the usage ledger can be
checked row by row.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from accounts import migrate
from accounts.schema import sync_url
from tests.accounts.servers import Postgres, RedisProcess
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

MODEL = "alpha"
# The local outbox drains about once a second; this bounds every wait for ledger rows.
LEDGER_WAIT_S = 15.0
# Small timeouts keep the timeout scenarios quick; they are far above loopback latency.
FAST_TIMEOUTS: dict[str, float] = {
    "connect_timeout_s": 0.5,
    "first_byte_timeout_s": 0.8,
    "stall_timeout_s": 0.8,
    "request_timeout_s": 15.0,
}


@dataclass
class Backends:
    database_url: str
    redis_url: str
    workdir: Path
    engine: sa.Engine


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    # Not tmp_path_factory: a live database directory must not be rotated away by other runs.
    workdir = Path(tempfile.mkdtemp(prefix="mf-faults-"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        pg = Postgres(workdir / "pg")
    redis = RedisProcess(workdir / "redis")
    try:
        migrate.upgrade(pg.url())
        redis.start()
        engine = sa.create_engine(sync_url(pg.url()), poolclass=sa.pool.NullPool)
        yield Backends(pg.url(), redis.url, workdir, engine)
        engine.dispose()
    finally:
        redis.stop()
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Reply:
    """What a client saw for one request."""

    request_id: str
    status: int
    headers: httpx.Headers
    body: Any = None
    events: list[Any] = field(default_factory=list)
    done: bool = False
    elapsed_s: float = 0.0

    @property
    def instance(self) -> str | None:
        return self.headers.get("x-motherfluxer-instance")

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and isinstance(self.body.get("error"), dict), self.body
        return self.body["error"]

    def text(self) -> str:
        """The assistant text of a buffered chat answer or of all stream chunks."""
        if self.body is not None:
            return str(self.body["choices"][0]["message"]["content"])
        parts = []
        for ev in self.events:
            if isinstance(ev, dict):
                for choice in ev.get("choices") or []:
                    parts.append((choice.get("delta") or {}).get("content") or "")
        return "".join(parts)


class Rig:
    """One router with accounts, its upstreams, a registered key and the ledger."""

    def __init__(self, harness: RouterHarness, backends: Backends) -> None:
        self.harness = harness
        self.backends = backends
        self.http = httpx.Client(base_url=harness.url, timeout=30)
        self.sent: list[str] = []
        self.user_id, self.key = self._registered_key()

    def _registered_key(self) -> tuple[str, str]:
        admin = self.harness.admin
        user = self.http.post(
            "/admin/users", json={"name": f"faults-{uuid.uuid4().hex[:6]}", "tier": "registered"},
            headers=admin,
        )  # fmt: skip
        assert user.status_code == 201, user.text
        user_id = user.json()["user_id"]
        key = self.http.post(f"/admin/users/{user_id}/keys", json={}, headers=admin)
        assert key.status_code == 201, key.text
        return user_id, key.json()["key"]

    def close(self) -> None:
        self.http.close()

    # -- client side ---------------------------------------------------------------------------
    def _request(self, stream: bool, body: dict[str, Any]) -> tuple[str, dict[str, Any], dict]:
        rid = f"flt-{uuid.uuid4().hex}"
        self.sent.append(rid)
        payload = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "tell me something"}],
            "max_tokens": 16,
            **body,
        }
        if stream:
            payload["stream"] = True
        headers = {"Authorization": f"Bearer {self.key}", "x-request-id": rid}
        return rid, payload, headers

    def chat(self, **body: Any) -> Reply:
        rid, payload, headers = self._request(False, body)
        started = time.perf_counter()
        resp = self.http.post("/v1/chat/completions", json=payload, headers=headers)
        elapsed = time.perf_counter() - started
        return Reply(rid, resp.status_code, resp.headers, resp.json(), elapsed_s=elapsed)

    def stream(self, **body: Any) -> Reply:
        rid, payload, headers = self._request(True, body)
        started = time.perf_counter()
        with self.http.stream(
            "POST", "/v1/chat/completions", json=payload, headers=headers
        ) as resp:
            if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                resp.read()
                return Reply(rid, resp.status_code, resp.headers, resp.json())
            events: list[Any] = []
            done = False
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    continue
                try:
                    events.append(json.loads(data))
                except ValueError:
                    events.append(data)  # kept raw so a test can see garbage was relayed
        elapsed = time.perf_counter() - started
        return Reply(rid, resp.status_code, resp.headers, None, events, done, elapsed)

    # -- operator side -------------------------------------------------------------------------
    def instances(self) -> dict[str, dict[str, Any]]:
        resp = self.http.get("/admin/instances", headers=self.harness.admin)
        assert resp.status_code == 200, resp.text
        return {i["instance_id"]: i for i in resp.json()["data"]}

    def wait_instance(
        self, instance_id: str, check: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0
    ) -> dict[str, Any]:
        """Poll /admin/instances until `check` holds (breaker writes land in the background)."""
        deadline = time.monotonic() + timeout_s
        while True:
            view = self.instances().get(instance_id)
            if view is not None and check(view):
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"{instance_id} never reached the expected state: {view}")
            time.sleep(0.05)

    # -- usage ledger ----------------------------------------------------------------------------
    def ledger_rows(self, request_ids: list[str]) -> list[dict[str, Any]]:
        with self.backends.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT client_request_id AS request_id, status, instance_id, tokens_out "
                    "FROM usage_ledger WHERE client_request_id = ANY(:ids)"
                ),
                {"ids": request_ids},
            ).mappings()
            return [dict(r) for r in rows]

    def user_row_count(self) -> int:
        with self.backends.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM usage_ledger WHERE user_id = :u"),
                    {"u": self.user_id},
                ).scalar_one()
            )

    def usage_records(self, request_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Wait until every accepted request has its ledger row; assert exactly one row each.

        `request_ids` are the accepted requests (default: every request sent). The ledger's
        request_id is unique, so a duplicate would show up as an extra row under this user
        rather than as two rows for one id: both are checked.
        """
        ids = list(request_ids if request_ids is not None else self.sent)
        deadline = time.monotonic() + LEDGER_WAIT_S
        while True:
            rows = self.ledger_rows(ids)
            if len(rows) >= len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        by_id: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_id.setdefault(row["request_id"], []).append(row)
        missing = [i for i in ids if i not in by_id]
        assert not missing, f"no usage record for {missing}"
        assert all(len(v) == 1 for v in by_id.values()), by_id
        assert self.user_row_count() == len(ids), "extra usage records for this user"
        return {k: v[0] for k, v in by_id.items()}


@pytest.fixture
def upstreams() -> Iterator[dict[str, FaultUpstreamHandle]]:
    """Two upstreams for the model: `bad` gets the fault, `good` stays healthy."""
    handles = {name: start_fault_upstream(model=MODEL, name=name) for name in ("bad", "good")}
    try:
        yield handles
    finally:
        for h in handles.values():
            h.stop()


RigFactory = Callable[..., Rig]


@pytest.fixture
def make_rig(moto_endpoint: str, backends: Backends) -> Iterator[RigFactory]:
    """Start a router with accounts; `strategy` and settings overrides per scenario."""
    rigs: list[Rig] = []

    def make(strategy: str = "cost", **overrides: Any) -> Rig:
        catalog = catalog_doc(model_doc(MODEL, strategy=strategy))
        data_dir = tempfile.mkdtemp(prefix="outbox-", dir=backends.workdir)
        settings = {
            **FAST_TIMEOUTS,
            "database_url": backends.database_url,
            "redis_url": backends.redis_url,
            "data_dir": data_dir,
            **overrides,
        }
        harness = start_router(moto_endpoint, catalog, **settings)
        try:
            rig = Rig(harness, backends)
        except BaseException:
            harness.stop()
            raise
        rigs.append(rig)
        return rig

    try:
        yield make
    finally:
        for rig in rigs:
            rig.close()
            rig.harness.stop()


def add_ranked(rig: Rig, handles: dict[str, FaultUpstreamHandle], *order: str) -> None:
    """Register the upstreams as static instances; with the `cost` strategy the router tries
    them in the given order (cheapest first), which makes every failover deterministic."""
    for rank, name in enumerate(order, start=1):
        rig.harness.add_instance(
            MODEL, handles[name].url, instance_id=name, tags={"hour_usd": str(rank)}
        )


def completions(handle: FaultUpstreamHandle) -> int:
    return int(handle.stats()["requests"].get("/v1/chat/completions", 0))
