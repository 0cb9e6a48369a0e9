"""Runs the real router app under uvicorn in a background thread, on a moto DynamoDB server.

Tests get a URL, the admin key, the repository and the signer, and talk HTTP to the router
exactly as a client would.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import uvicorn

from registry.repository import InstanceRepository, create_table
from router.main import build_app
from router.security import Signer
from router.settings import Settings
from routing.instances import Instance


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dynamodb(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def catalog_doc(*models: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"models": list(models), **extra}


def model_doc(model_id: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": model_id,
        "capabilities": ["text", "chat"],
        "specialization": {"chat": 0.8},
        "demo": True,
    }
    doc.update(fields)
    return doc


@dataclass
class RouterHarness:
    url: str
    admin_key: str
    signer: Signer
    repo: InstanceRepository
    table: str
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def add_instance(
        self,
        model: str,
        base_url: str,
        *,
        version: str = "v1",
        instance_id: str | None = None,
        lease_seconds: float = 0.0,
        **fields: Any,
    ) -> Instance:
        """Put an instance straight into the table (a statically configured one: no lease)."""
        inst = Instance(
            instance_id=instance_id or f"{model}-{uuid.uuid4().hex[:8]}",
            model=model,
            version=version,
            kind="openai",
            endpoint=base_url,
            status="healthy",
            last_heartbeat=time.time(),
            lease_seconds=lease_seconds,
            **fields,
        )
        self.repo.put(inst)
        return inst

    def refresh(self) -> None:
        """Wait past the snapshot TTL so the router sees table changes."""
        time.sleep(0.12)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def start_router(
    dynamodb_endpoint: str,
    catalog: dict[str, Any],
    uvicorn_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> RouterHarness:
    table = "t-" + uuid.uuid4().hex[:10]
    client = dynamodb(dynamodb_endpoint)
    create_table(client, table)
    admin_key = "mf_admin_" + secrets.token_urlsafe(16)
    signing_key = secrets.token_urlsafe(32)
    settings_fields: dict[str, Any] = {
        "stage": "test",
        "instances_table": table,
        "dynamodb_endpoint": dynamodb_endpoint,
        "catalog_json": json.dumps(catalog),
        "admin_key": admin_key,
        "signing_key": signing_key,
        "snapshot_ttl_s": 0.05,
        "heartbeat_interval_s": 1.0,
        "lease_s": 3.0,
        "connect_timeout_s": 1.0,
        "first_byte_timeout_s": 2.0,
        "stall_timeout_s": 2.0,
        "request_timeout_s": 20.0,
    }
    settings_fields.update(overrides)
    settings = Settings(**settings_fields)
    app = build_app(settings)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        loop="asyncio",
        **(uvicorn_options or {}),
    )
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve())

    thread = threading.Thread(target=run, name=f"router-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("router did not start")
        time.sleep(0.02)
    return RouterHarness(
        url=f"http://127.0.0.1:{port}",
        admin_key=admin_key,
        signer=Signer(signing_key.encode()),
        repo=InstanceRepository(client, table),
        table=table,
        _server=server,
        _thread=thread,
    )
