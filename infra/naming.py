"""Names shared between stacks, derived from the config so no stack has to export them."""

from __future__ import annotations

from typing import Any

from infra.config import ModelConfig, SageMakerHosting, StageConfig, slug

# Routes the model containers call to join and stay in the instance pool (router/api/instances).
REGISTER_PATH = "/instances/register"
HEARTBEAT_PATH = "/instances/{instance_id}/heartbeat"

# Metric namespace and Powertools service names live in contracts.metrics.


def endpoint_name(config: StageConfig, model: ModelConfig, version: str) -> str:
    """SageMaker endpoint name for one model version (<= 63 chars, [a-z0-9-])."""
    base = slug(f"mf-{config.name}-{model.id}", 50)
    return f"{base}-{slug(version, 12)}"


def component_name(config: StageConfig, model: ModelConfig, version: str) -> str:
    """Inference component name for one model version (<= 63 chars, [a-z0-9-])."""
    base = slug(f"mf-{config.name}-{model.id}", 46)
    return f"{base}-{slug(version, 12)}-ic"


def sagemaker_components(config: StageConfig) -> dict[str, dict[str, Any]]:
    """endpoint name -> its inference component and wake time, for the router's SageMaker
    client (router/upstream/sagemaker.py reads it from MOTHERFLUXER_SAGEMAKER_COMPONENTS)."""
    out: dict[str, dict[str, Any]] = {}
    for m in config.hosted_by("sagemaker"):
        hosting = m.hosting
        assert isinstance(hosting, SageMakerHosting)
        for v in m.versions:
            out[endpoint_name(config, m, v.version)] = {
                "component": component_name(config, m, v.version),
                "wake_seconds": hosting.wake_seconds,
            }
    return out


def sagemaker_endpoints(config: StageConfig) -> dict[str, dict[str, str]]:
    """model id -> version -> endpoint name, for every SageMaker-hosted model."""
    return {
        m.id: {v.version: endpoint_name(config, m, v.version) for v in m.versions}
        for m in config.hosted_by("sagemaker")
    }


def catalog_parameter_name(config: StageConfig) -> str:
    return f"/motherfluxer/{config.name}/catalog"


def function_name(config: StageConfig, role: str) -> str:
    return f"motherfluxer-{config.name}-{role}"
