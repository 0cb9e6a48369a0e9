"""Environment-variable names the stacks set and the Lambda code reads, plus their parsers.

`infra/api_stack.py` builds each function's environment from these constants and
`router/settings.py` (and the health checker) read them back, so neither side hand-copies a
string.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

# -- router, streamer and workers --------------------------------------------------------------
STAGE = "MOTHERFLUXER_STAGE"
INSTANCES_TABLE = "MOTHERFLUXER_INSTANCES_TABLE"
DYNAMODB_ENDPOINT = "MOTHERFLUXER_DYNAMODB_ENDPOINT"
SAGEMAKER_ENDPOINT = "MOTHERFLUXER_SAGEMAKER_ENDPOINT"
CATALOG = "MOTHERFLUXER_CATALOG"
CATALOG_FILE = "MOTHERFLUXER_CATALOG_FILE"
CATALOG_PARAMETER = "MOTHERFLUXER_CATALOG_PARAMETER"
ADMIN_KEY = "MOTHERFLUXER_ADMIN_KEY"
ADMIN_KEY_SECRET = "MOTHERFLUXER_ADMIN_KEY_SECRET"
SIGNING_KEY = "MOTHERFLUXER_SIGNING_KEY"
SIGNING_SECRET = "MOTHERFLUXER_SIGNING_SECRET"
SNAPSHOT_TTL_S = "MOTHERFLUXER_SNAPSHOT_TTL_S"
MAX_BODY_BYTES = "MOTHERFLUXER_MAX_BODY_BYTES"
CONNECT_TIMEOUT_S = "MOTHERFLUXER_CONNECT_TIMEOUT_S"
FIRST_BYTE_TIMEOUT_S = "MOTHERFLUXER_FIRST_BYTE_TIMEOUT_S"
STALL_TIMEOUT_S = "MOTHERFLUXER_STALL_TIMEOUT_S"
REQUEST_TIMEOUT_S = "MOTHERFLUXER_REQUEST_TIMEOUT_S"
HEARTBEAT_INTERVAL_S = "MOTHERFLUXER_HEARTBEAT_INTERVAL_S"
LEASE_S = "MOTHERFLUXER_LEASE_S"
EXPIRY_S = "MOTHERFLUXER_EXPIRY_S"
TOKEN_MAX_TTL_S = "MOTHERFLUXER_TOKEN_MAX_TTL_S"
DATABASE_URL = "MOTHERFLUXER_DATABASE_URL"
DATABASE_SECRET = "MOTHERFLUXER_DATABASE_SECRET"
REDIS_URL = "MOTHERFLUXER_REDIS_URL"
REDIS_HOST = "MOTHERFLUXER_REDIS_HOST"
REDIS_PORT = "MOTHERFLUXER_REDIS_PORT"
REDIS_TLS = "MOTHERFLUXER_REDIS_TLS"
REDIS_AUTH_SECRET = "MOTHERFLUXER_REDIS_AUTH_SECRET"
DATA_DIR = "MOTHERFLUXER_DATA_DIR"
USAGE_QUEUE_URL = "MOTHERFLUXER_USAGE_QUEUE_URL"
# "external": another process drains the local usage outbox (`accounts.outbox_process`).
OUTBOX_DRAINER = "MOTHERFLUXER_OUTBOX_DRAINER"
OUTBOX_DRAIN_INTERVAL_S = "MOTHERFLUXER_OUTBOX_DRAIN_INTERVAL_S"
# "external": the database was migrated before the router started (`python -m accounts.migrate`).
MIGRATIONS = "MOTHERFLUXER_MIGRATIONS"
# Router processes behind one port (`python -m router.main --workers`).
ROUTER_WORKERS = "MOTHERFLUXER_ROUTER_WORKERS"
ENROLLMENT_SECRETS = "MOTHERFLUXER_ENROLLMENT_SECRETS"
SAGEMAKER_ENDPOINTS = "MOTHERFLUXER_SAGEMAKER_ENDPOINTS"
# endpoint name -> {"component": inference component name, "wake_seconds": n}: the router calls
# that component, and answers a component with no copy as a sleeping model (router/wake.py).
SAGEMAKER_COMPONENTS = "MOTHERFLUXER_SAGEMAKER_COMPONENTS"
EXTERNAL_PROVIDERS = "MOTHERFLUXER_EXTERNAL_PROVIDERS"
REGISTRATION_IAM = "MOTHERFLUXER_REGISTRATION_IAM"
REGISTRATION_ROLES = "MOTHERFLUXER_REGISTRATION_ROLES"
# Where EMF documents go outside Lambda (the local stack's .local/logs/metrics.emf.jsonl).
EMF_FILE = "MOTHERFLUXER_EMF_FILE"

# -- OpenTelemetry (standard name): tracing is on only when it is set (router/tracing.py) -----
OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"

# -- set by Lambda, Powertools and the Lambda Web Adapter -----------------------------------------
LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
LWA_EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
LWA_INVOKE_MODE = "AWS_LWA_INVOKE_MODE"
LWA_READINESS_CHECK_PATH = "AWS_LWA_READINESS_CHECK_PATH"
LWA_PORT = "PORT"
# The router's liveness route, the value given to LWA_READINESS_CHECK_PATH: the adapter must not
# wait for models that may be scaled to zero (router/api/health.py serves it).
LIVENESS_PATH = "/health/live"

# -- the model container (containers/ reads these; it ships separately, so it spells them out) --
CONTAINER_ROUTER_URL = "MOTHERFLUXER_ROUTER_URL"
CONTAINER_ENROLLMENT_SECRET = "MOTHERFLUXER_ENROLLMENT_SECRET"
CONTAINER_ENROLLMENT_KEY = "MOTHERFLUXER_ENROLLMENT_KEY"
CONTAINER_DEMO = "MOTHERFLUXER_DEMO"
CONTAINER_REGISTRATION_AUTH = "MOTHERFLUXER_REGISTRATION_AUTH"
CONTAINER_INSTANCE_KIND = "MOTHERFLUXER_INSTANCE_KIND"
CONTAINER_ENDPOINT_NAME = "MOTHERFLUXER_ENDPOINT_NAME"
CONTAINER_SERVED_MODEL_NAME = "SERVED_MODEL_NAME"
CONTAINER_MODEL_VERSION = "MODEL_VERSION"
CONTAINER_MODEL_ID = "MODEL_ID"


def _raw(name: str, env: Mapping[str, str] | None) -> str | None:
    value = (os.environ if env is None else env).get(name)
    return value if value not in (None, "") else None


def text(name: str, default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, with an empty string treated as unset."""
    value = _raw(name, env)
    return default if value is None else value


def number(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    value = _raw(name, env)
    return float(value) if value is not None else default


def integer(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    value = _raw(name, env)
    return int(value) if value is not None else default


def flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    """True only for an explicit `true`/`1`/`yes`/`on` (stacks write `true` or `false`)."""
    value = _raw(name, env)
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


def json_object(name: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A JSON object (the stacks write maps as JSON); unset means empty."""
    value = _raw(name, env)
    if value is None:
        return {}
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} must be a JSON object")
    return parsed
