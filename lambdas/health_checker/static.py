"""Instances that do not register themselves: SageMaker endpoints and external providers.

The stage configuration names them (environment set by the api stack); every health round
makes sure each has an item in the instances table, without touching the health state of
items that already exist. They have no heartbeat (lease 0): only probes judge them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from registry.repository import InstanceRepository
from router.upstream.providers import protocol_for
from routing.instances import Instance

logger = logging.getLogger("motherfluxer.health")


def static_instances(
    sagemaker_endpoints: dict[str, dict[str, str]],
    external_providers: dict[str, dict[str, Any]],
    now: float | None = None,
) -> list[Instance]:
    stamp = time.time() if now is None else now
    out: list[Instance] = []
    for model, versions in sorted(sagemaker_endpoints.items()):
        for version, endpoint in sorted(versions.items()):
            out.append(
                Instance(
                    instance_id=f"sm-{endpoint}",
                    model=model,
                    version=version,
                    kind="sagemaker",
                    endpoint=endpoint,
                    status="starting",
                    last_heartbeat=stamp,
                    lease_seconds=0.0,
                )
            )
    for model, spec in sorted(external_providers.items()):
        provider = str(spec.get("provider") or "")
        if protocol_for(provider) is None:
            logger.warning(
                "provider %s for %s has no client in this router; skipped", provider, model
            )
            continue
        tags = {"upstream_model": str(spec.get("model") or model), "provider": provider}
        for key in ("api_key_secret", "api_version", "region"):
            if spec.get(key):
                tags[key] = str(spec[key])
        out.append(
            Instance(
                instance_id=f"ext-{model.replace('/', '-')}",
                model=model,
                version="v1",
                # Served by router.upstream.providers; no active probe (it would cost requests),
                # so passive health (breaker, ejection) alone judges them.
                kind="external",
                endpoint=str(spec.get("base_url") or "").rstrip("/"),
                status="healthy",
                last_heartbeat=stamp,
                lease_seconds=0.0,
                tags=tags,
            )
        )
    return out


def ensure_static(repo: InstanceRepository, instances: list[Instance]) -> int:
    """Create missing items; existing ones keep their health and breaker state."""
    created = 0
    for inst in instances:
        if repo.get(inst.instance_id) is None:
            repo.put(inst)
            created += 1
    return created
