"""Router settings, read once from the environment at start-up (never per request)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contracts import env
from contracts.env import flag, integer, json_object, number, text


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
    # endpoint name -> {"component", "wake_seconds"}: inference components (AWS).
    sagemaker_components: dict[str, Any] = field(default_factory=dict)
    # model id -> {"provider", "base_url", "model", "api_key_secret"} (AWS).
    external_providers: dict[str, dict[str, str | None]] = field(default_factory=dict)
    # SigV4 registration (API Gateway IAM authorizer on the registration route).
    registration_iam: bool = False
    # model id -> IAM role name allowed to register it (optional, stricter scoping).
    registration_roles: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            stage=text(env.STAGE, "local") or "local",
            region=text("AWS_REGION") or text("AWS_DEFAULT_REGION") or "us-east-1",
            instances_table=text(env.INSTANCES_TABLE, "motherfluxer-instances")
            or "motherfluxer-instances",
            dynamodb_endpoint=text(env.DYNAMODB_ENDPOINT),
            sagemaker_endpoint=text(env.SAGEMAKER_ENDPOINT),
            catalog_json=text(env.CATALOG),
            catalog_file=text(env.CATALOG_FILE),
            catalog_parameter=text(env.CATALOG_PARAMETER),
            admin_key=text(env.ADMIN_KEY),
            admin_key_secret=text(env.ADMIN_KEY_SECRET),
            signing_key=text(env.SIGNING_KEY),
            signing_key_secret=text(env.SIGNING_SECRET),
            snapshot_ttl_s=number(env.SNAPSHOT_TTL_S, 1.0),
            max_body_bytes=integer(env.MAX_BODY_BYTES, 1_048_576),
            connect_timeout_s=number(env.CONNECT_TIMEOUT_S, 2.0),
            first_byte_timeout_s=number(env.FIRST_BYTE_TIMEOUT_S, 30.0),
            stall_timeout_s=number(env.STALL_TIMEOUT_S, 30.0),
            request_timeout_s=number(env.REQUEST_TIMEOUT_S, 120.0),
            heartbeat_interval_s=number(env.HEARTBEAT_INTERVAL_S, 5.0),
            lease_s=number(env.LEASE_S, 15.0),
            expiry_s=number(env.EXPIRY_S, 3600.0),
            token_max_ttl_s=integer(env.TOKEN_MAX_TTL_S, 900),
            database_url=text(env.DATABASE_URL),
            database_secret=text(env.DATABASE_SECRET),
            redis_url=text(env.REDIS_URL),
            data_dir=text(env.DATA_DIR),
            usage_queue_url=text(env.USAGE_QUEUE_URL),
            redis_host=text(env.REDIS_HOST),
            redis_port=integer(env.REDIS_PORT, 6379),
            redis_tls=flag(env.REDIS_TLS),
            redis_auth_secret=text(env.REDIS_AUTH_SECRET),
            enrollment_secrets=json_object(env.ENROLLMENT_SECRETS),
            sagemaker_endpoints=json_object(env.SAGEMAKER_ENDPOINTS),
            sagemaker_components=json_object(env.SAGEMAKER_COMPONENTS),
            external_providers=json_object(env.EXTERNAL_PROVIDERS),
            registration_iam=flag(env.REGISTRATION_IAM),
            registration_roles=json_object(env.REGISTRATION_ROLES),
        )
