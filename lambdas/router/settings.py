"""Router settings, read once from the environment at start-up (never per request)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _json(name: str) -> dict[str, Any]:
    raw = os.environ.get(name)
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object")
    return value


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    region: str = "us-east-1"
    instances_table: str = "motherfluxer-instances"
    # Set only locally (moto server); in AWS the SDK finds the regional endpoint.
    dynamodb_endpoint: str | None = None
    sagemaker_endpoint: str | None = None
    catalog_json: str | None = None
    catalog_file: str | None = None
    catalog_parameter: str | None = None
    admin_key: str | None = None
    admin_key_secret: str | None = None
    signing_key: str | None = None
    signing_key_secret: str | None = None
    snapshot_ttl_s: float = 1.0
    max_body_bytes: int = 1_048_576
    connect_timeout_s: float = 2.0
    first_byte_timeout_s: float = 30.0
    stall_timeout_s: float = 30.0
    request_timeout_s: float = 120.0
    heartbeat_interval_s: float = 5.0
    lease_s: float = 15.0
    # After this long without a heartbeat DynamoDB's TTL removes the item entirely.
    expiry_s: float = 3600.0
    token_max_ttl_s: int = 900
    database_url: str | None = None
    database_secret: str | None = None
    redis_url: str | None = None
    data_dir: str | None = None
    usage_queue_url: str | None = None
    redis_host: str | None = None
    redis_port: int = 6379
    redis_tls: bool = False
    redis_auth_secret: str | None = None
    # model id -> Secrets Manager ARN of that model's enrollment secret (AWS).
    enrollment_secrets: dict[str, str] = field(default_factory=dict)
    # model id -> version -> SageMaker endpoint name (AWS).
    sagemaker_endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    # model id -> {"provider", "base_url", "model", "api_key_secret"} (AWS).
    external_providers: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # SigV4 registration (API Gateway IAM authorizer on the registration route).
    registration_iam: bool = False
    # model id -> IAM role name allowed to register it (optional, stricter scoping).
    registration_roles: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            stage=env.get("MOTHERFLUXER_STAGE", "local"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            instances_table=env.get("MOTHERFLUXER_INSTANCES_TABLE", "motherfluxer-instances"),
            dynamodb_endpoint=env.get("MOTHERFLUXER_DYNAMODB_ENDPOINT") or None,
            sagemaker_endpoint=env.get("MOTHERFLUXER_SAGEMAKER_ENDPOINT") or None,
            catalog_json=env.get("MOTHERFLUXER_CATALOG") or None,
            catalog_file=env.get("MOTHERFLUXER_CATALOG_FILE") or None,
            catalog_parameter=env.get("MOTHERFLUXER_CATALOG_PARAMETER") or None,
            admin_key=env.get("MOTHERFLUXER_ADMIN_KEY") or None,
            admin_key_secret=env.get("MOTHERFLUXER_ADMIN_KEY_SECRET") or None,
            signing_key=env.get("MOTHERFLUXER_SIGNING_KEY") or None,
            signing_key_secret=env.get("MOTHERFLUXER_SIGNING_SECRET") or None,
            snapshot_ttl_s=_float("MOTHERFLUXER_SNAPSHOT_TTL_S", 1.0),
            max_body_bytes=_int("MOTHERFLUXER_MAX_BODY_BYTES", 1_048_576),
            connect_timeout_s=_float("MOTHERFLUXER_CONNECT_TIMEOUT_S", 2.0),
            first_byte_timeout_s=_float("MOTHERFLUXER_FIRST_BYTE_TIMEOUT_S", 30.0),
            stall_timeout_s=_float("MOTHERFLUXER_STALL_TIMEOUT_S", 30.0),
            request_timeout_s=_float("MOTHERFLUXER_REQUEST_TIMEOUT_S", 120.0),
            heartbeat_interval_s=_float("MOTHERFLUXER_HEARTBEAT_INTERVAL_S", 5.0),
            lease_s=_float("MOTHERFLUXER_LEASE_S", 15.0),
            expiry_s=_float("MOTHERFLUXER_EXPIRY_S", 3600.0),
            token_max_ttl_s=_int("MOTHERFLUXER_TOKEN_MAX_TTL_S", 900),
            database_url=env.get("MOTHERFLUXER_DATABASE_URL") or None,
            database_secret=env.get("MOTHERFLUXER_DATABASE_SECRET") or None,
            redis_url=env.get("MOTHERFLUXER_REDIS_URL") or None,
            data_dir=env.get("MOTHERFLUXER_DATA_DIR") or None,
            usage_queue_url=env.get("MOTHERFLUXER_USAGE_QUEUE_URL") or None,
            redis_host=env.get("MOTHERFLUXER_REDIS_HOST") or None,
            redis_port=_int("MOTHERFLUXER_REDIS_PORT", 6379),
            redis_tls=env.get("MOTHERFLUXER_REDIS_TLS", "").lower() == "true",
            redis_auth_secret=env.get("MOTHERFLUXER_REDIS_AUTH_SECRET") or None,
            enrollment_secrets=_json("MOTHERFLUXER_ENROLLMENT_SECRETS"),
            sagemaker_endpoints=_json("MOTHERFLUXER_SAGEMAKER_ENDPOINTS"),
            external_providers=_json("MOTHERFLUXER_EXTERNAL_PROVIDERS"),
            registration_iam=env.get("MOTHERFLUXER_REGISTRATION_IAM", "").lower() == "true",
            registration_roles=_json("MOTHERFLUXER_REGISTRATION_ROLES"),
        )
