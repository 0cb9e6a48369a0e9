"""Names shared between stacks, derived from the config so no stack has to export them."""

from __future__ import annotations

from infra.config import ModelConfig, StageConfig, slug

# Routes the model containers call to join and stay in the instance pool (router/api/instances).
REGISTER_PATH = "/instances/register"
HEARTBEAT_PATH = "/instances/{instance_id}/heartbeat"

# Metric namespace and Powertools service names live in contracts.metrics.


def endpoint_name(config: StageConfig, model: ModelConfig, version: str) -> str:
    """SageMaker endpoint name for one model version (<= 63 chars, [a-z0-9-])."""
    base = slug(f"mf-{config.name}-{model.id}", 50)
    return f"{base}-{slug(version, 12)}"


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
