"""Where EMF documents go: stdout in Lambda (CloudWatch Logs extracts them), a file locally.

The local stack sets MOTHERFLUXER_EMF_FILE so that every document the router and the health
checker would send to CloudWatch lands, one JSON document per line, in
`.local/logs/metrics.emf.jsonl`, where it can be read and checked against the dashboards.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from contracts import env
from contracts.metrics import NAMESPACE, MetricSpec

_lock = threading.Lock()


def enabled() -> bool:
    """Emit in Lambda, or wherever a local EMF file was asked for."""
    return bool(os.environ.get(env.LAMBDA_FUNCTION_NAME) or os.environ.get(env.EMF_FILE))


def write(document: dict[str, Any]) -> None:
    line = json.dumps(document, separators=(",", ":"))
    path = os.environ.get(env.EMF_FILE)
    if not path:
        # Lambda: the runtime ships stdout to CloudWatch Logs, which extracts the metrics.
        print(line, file=sys.stdout, flush=True)
        return
    # One write per line under a lock: concurrent requests never interleave documents.
    with _lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def emit(
    service: str,
    dims: Mapping[str, str],
    values: Sequence[tuple[MetricSpec, float]],
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """Serialize one document through Powertools (which adds `service`) and write it.

    Every metric is checked against its contract first: a document whose dimensions differ
    from the spec would land in a series no dashboard reads.
    """
    from aws_lambda_powertools.metrics import EphemeralMetrics

    for spec, _ in values:
        if spec.service != service:
            raise ValueError(f"{spec.name} belongs to service {spec.service}, not {service}")
        spec.check(dims)
    # EphemeralMetrics keeps no global state, so concurrent requests never mix dimensions.
    doc = EphemeralMetrics(namespace=namespace, service=service)
    for key, value in dims.items():
        doc.add_dimension(name=key, value=value)
    for spec, value in values:
        doc.add_metric(name=spec.name, unit=spec.unit, value=value)
    document = doc.serialize_metric_set()
    write(document)
    return document
