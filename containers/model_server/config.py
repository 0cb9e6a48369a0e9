"""Server settings, read once from the environment at start-up."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _task_url(port: int) -> str:
    """Where the router can reach this server.

    On ECS the task's private IP comes from the task metadata endpoint (awsvpc networking
    gives each task its own address); elsewhere, loopback.
    """
    metadata = os.environ.get("ECS_CONTAINER_METADATA_URI_V4")
    if metadata:
        import json
        import urllib.request

        try:
            with urllib.request.urlopen(metadata, timeout=2) as resp:
                info = json.loads(resp.read())
            address = info["Networks"][0]["IPv4Addresses"][0]
            return f"http://{address}:{port}"
        except (OSError, ValueError, KeyError, IndexError):
            pass
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class Settings:
    # MOTHERFLUXER_DEMO: serve the tiny demo model instead of MODEL_ID / MODEL_PATH.
    demo_forced: bool = False
    host: str = "0.0.0.0"
    port: int = 8080
    # "auto" picks vllm (GPU + vllm installed), else transformers when a model is named, else tiny.
    backend: str = "auto"
    model_id: str | None = None
    model_path: str | None = None
    served_model_name: str = "tiny-demo"
    model_version: str = "v1"
    cache_dir: str | None = None
    default_max_tokens: int = 256
    max_tokens_limit: int = 4096
    max_body_bytes: int = 1_048_576
    max_queue: int = 64
    torch_threads: int = 0
    trust_remote_code: bool = False
    enable_faults: bool = False
    stall_timeout_s: float = 120.0
    drain_timeout_s: float = 20.0
    restart_backoff_base_s: float = 0.5
    restart_backoff_cap_s: float = 30.0
    warm_standby: bool = True
    router_url: str | None = None
    public_url: str | None = None
    registration_token: str | None = field(default=None, repr=False)
    enrollment_key: str | None = field(default=None, repr=False)
    # "token" (registration token / enrollment key) or "sigv4" (sign with the task's IAM role).
    registration_auth: str = "token"
    instance_kind: str = "openai"
    aws_region: str | None = None
    registration_backoff_cap_s: float = 30.0
    log_level: str = "info"

    @classmethod
    def from_env(cls) -> Settings:
        model_id = os.environ.get("MODEL_ID") or None
        model_path = os.environ.get("MODEL_PATH") or None
        backend = (os.environ.get("MODEL_BACKEND") or "auto").strip().lower()
        demo = _env_bool("MOTHERFLUXER_DEMO")
        if demo:
            # The stage's demo switch: the tiny local model, whatever MODEL_ID the image
            # names, so a dev task never downloads production weights.
            backend = "tiny"
        if backend in ("tiny", "echo"):
            default_name = f"{backend}-demo"
        else:
            default_name = model_id or (
                os.path.basename(os.path.normpath(model_path)) if model_path else "tiny-demo"
            )
        port = _env_int("PORT", 8080)
        return cls(
            demo_forced=demo,
            host=os.environ.get("HOST", "0.0.0.0"),
            port=port,
            backend=backend,
            model_id=model_id,
            model_path=model_path,
            served_model_name=os.environ.get("SERVED_MODEL_NAME") or default_name,
            model_version=os.environ.get("MODEL_VERSION") or "v1",
            cache_dir=os.environ.get("MODEL_CACHE_DIR") or None,
            default_max_tokens=_env_int("DEFAULT_MAX_TOKENS", 256),
            max_tokens_limit=_env_int("MAX_TOKENS_LIMIT", 4096),
            max_body_bytes=_env_int("MAX_BODY_BYTES", 1_048_576),
            max_queue=_env_int("MAX_QUEUE", 64),
            torch_threads=_env_int("TORCH_NUM_THREADS", 0),
            trust_remote_code=_env_bool("TRUST_REMOTE_CODE"),
            enable_faults=_env_bool("MODEL_SERVER_ENABLE_FAULTS"),
            stall_timeout_s=_env_float("BACKEND_STALL_TIMEOUT_S", 120.0),
            drain_timeout_s=_env_float("DRAIN_TIMEOUT_S", 20.0),
            restart_backoff_base_s=_env_float("BACKEND_RESTART_BACKOFF_S", 0.5),
            restart_backoff_cap_s=_env_float("BACKEND_RESTART_BACKOFF_CAP_S", 30.0),
            warm_standby=_env_bool("BACKEND_WARM_STANDBY", True),
            router_url=(os.environ.get("MOTHERFLUXER_ROUTER_URL") or "").rstrip("/") or None,
            public_url=os.environ.get("MOTHERFLUXER_PUBLIC_URL") or _task_url(port),
            instance_kind=(os.environ.get("MOTHERFLUXER_INSTANCE_KIND") or "openai").lower(),
            registration_token=os.environ.get("MOTHERFLUXER_REGISTRATION_TOKEN") or None,
            enrollment_key=os.environ.get("MOTHERFLUXER_ENROLLMENT_KEY") or None,
            registration_auth=(os.environ.get("MOTHERFLUXER_REGISTRATION_AUTH") or "token").lower(),
            aws_region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
            registration_backoff_cap_s=_env_float("REGISTRATION_BACKOFF_CAP_S", 30.0),
            log_level=(os.environ.get("LOG_LEVEL") or "info").lower(),
        )

    def for_backend(self) -> dict[str, Any]:
        """The subset the backend child needs; secrets never cross into it."""
        data = asdict(self)
        for secret in ("registration_token", "enrollment_key"):
            data.pop(secret, None)
        return data
