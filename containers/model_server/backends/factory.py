"""Choose and load the backend named by the settings."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from model_server.backends.base import Backend

log = logging.getLogger(__name__)


def resolve_backend_name(settings: dict[str, Any]) -> str:
    requested = settings.get("backend") or "auto"
    if requested != "auto":
        return requested
    if not settings.get("model_id") and not settings.get("model_path"):
        return "tiny"
    from model_server.backends.vllm_backend import vllm_usable

    return "vllm" if vllm_usable() else "transformers"


def check_source(settings: dict[str, Any]) -> None:
    """Fail in milliseconds, before any heavy import, when MODEL_PATH cannot be a model."""
    path = settings.get("model_path")
    if path and resolve_backend_name(settings) != "tiny" and not Path(path).is_dir():
        raise FileNotFoundError(f"MODEL_PATH {path!r} is not a directory")


def preload(settings: dict[str, Any]) -> None:
    """Import what loading will need, without loading weights or touching the GPU.

    A standby backend process runs this ahead of time, so replacing a crashed backend costs
    only the weight load, not seconds of imports.
    """
    name = resolve_backend_name(settings)
    if name not in ("tiny", "transformers"):
        return
    import torch  # noqa: F401
    from transformers import (  # noqa: F401
        AutoModelForCausalLM,
        AutoTokenizer,
        StoppingCriteriaList,
        TextIteratorStreamer,
    )

    if name == "tiny":
        from transformers import GPT2LMHeadModel  # noqa: F401

        return
    source = settings.get("model_path") or settings.get("model_id")
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(source, local_files_only=True)
        # Resolving the class imports the architecture's modeling module.
        AutoModelForCausalLM._model_mapping[type(config)]
    except Exception:
        log.debug("preload could not resolve the model class; it will load on start")


def load_backend(settings: dict[str, Any]) -> Backend:
    name = resolve_backend_name(settings)
    served = settings["served_model_name"]
    trust = bool(settings.get("trust_remote_code"))
    if name == "tiny":
        from model_server.backends.hf import TransformersBackend
        from model_server.tiny_model import ensure_tiny

        cache = Path(settings["cache_dir"]) if settings.get("cache_dir") else None
        source = ensure_tiny(cache)
        # Tiny matrices run fastest single-threaded; more threads only add overhead.
        return TransformersBackend(
            str(source),
            served,
            demo=True,
            torch_threads=settings.get("torch_threads") or 1,
            local_only=True,
        )
    if name == "echo":
        from model_server.backends.echo import EchoBackend

        return EchoBackend(served)
    source = settings.get("model_path") or settings.get("model_id")
    if not source:
        raise ValueError(f"backend {name!r} needs MODEL_PATH or MODEL_ID")
    if name == "vllm":
        from model_server.backends.vllm_backend import VllmBackend

        return VllmBackend(source, served, trust_remote_code=trust)
    if name == "transformers":
        from model_server.backends.hf import TransformersBackend

        return TransformersBackend(
            source,
            served,
            torch_threads=settings.get("torch_threads") or 0,
            trust_remote_code=trust,
            local_only=bool(settings.get("model_path")),
        )
    raise ValueError(
        f"unknown MODEL_BACKEND {name!r} (expected auto, tiny, echo, transformers, vllm)"
    )
