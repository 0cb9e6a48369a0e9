"""Where EMF documents go: stdout in Lambda (CloudWatch Logs extracts them), a file locally.

The local stack sets MOTHERFLUXER_EMF_FILE so that every document the router and the health
checker would send to CloudWatch lands, one JSON document per line, in
`.local/logs/metrics.emf.jsonl`, where it can be read and checked against the dashboards.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from contracts import env
from contracts.metrics import NAMESPACE, MetricSpec

_lock = threading.Lock()
logger = logging.getLogger("motherfluxer.emf")


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
    _check(service, dims, values)
    document = _document(service, dims, values, namespace)
    write(document)
    return document


def _check(
    service: str, dims: Mapping[str, str], values: Sequence[tuple[MetricSpec, float]]
) -> None:
    for spec, _ in values:
        if spec.service != service:
            raise ValueError(f"{spec.name} belongs to service {spec.service}, not {service}")
        spec.check(dims)


def _document(
    service: str,
    dims: Mapping[str, str],
    values: Sequence[tuple[MetricSpec, float]],
    namespace: str,
) -> dict[str, Any]:
    from aws_lambda_powertools.metrics import EphemeralMetrics

    # EphemeralMetrics keeps no global state, so concurrent requests never mix dimensions.
    doc = EphemeralMetrics(namespace=namespace, service=service)
    for key, value in dims.items():
        doc.add_dimension(name=key, value=value)
    lists: dict[str, list[float]] = {}
    for spec, value in values:
        if spec.name not in lists:
            # Powertools checks each metric's name, unit and first value once. Adding every
            # value through it would cost a check and a debug-log format of the growing list
            # per value, and its 100th value of one metric prints the set to stdout and clears
            # it, away from MOTHERFLUXER_EMF_FILE.
            doc.add_metric(name=spec.name, unit=spec.unit, value=value)
            lists[spec.name] = []
        lists[spec.name].append(float(value))
    metrics = {
        name: {**doc.metric_set[name], "Value": values_of_name}
        for name, values_of_name in lists.items()
    }
    return doc.serialize_metric_set(metrics=metrics)


# CloudWatch takes at most 100 values per metric in one document.
MAX_VALUES = 100


class Batcher:
    """Long-running processes: one document per series per interval instead of per request.

    Values are kept in order and sent as EMF value lists, so CloudWatch computes the same sums,
    counts and percentiles as from single documents; what is saved is the serializing and the
    write per request. A daemon thread flushes every `interval_s`, and once more at exit.
    """

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[Any]] = {}
        self._thread: threading.Thread | None = None

    def add(
        self,
        service: str,
        dims: Mapping[str, str],
        values: Sequence[tuple[MetricSpec, float]],
        namespace: str,
    ) -> None:
        _check(service, dims, values)
        key = (namespace, service, tuple(dims.items()))
        with self._lock:
            self._series.setdefault(key, []).extend(values)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="emf", daemon=True)
                self._thread.start()
                atexit.register(self.flush)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            series, self._series = self._series, {}
        for (namespace, service, dims), values in series.items():
            for chunk in _chunks(values):
                try:
                    write(_document(service, dict(dims), chunk, namespace))
                except Exception:
                    # One bad document must not end the flushing thread: every later value
                    # would pile up unflushed in memory.
                    logger.exception("EMF document for %s %s not written", service, dims)


def _chunks(values: list[tuple[MetricSpec, float]]) -> list[list[tuple[MetricSpec, float]]]:
    """Split so that no metric has more than MAX_VALUES values in one document."""
    out: list[list[tuple[MetricSpec, float]]] = []
    counts: list[dict[str, int]] = []
    for spec, value in values:
        slot = next(
            (i for i, c in enumerate(counts) if c.get(spec.name, 0) < MAX_VALUES), len(counts)
        )
        if slot == len(counts):
            counts.append({})
            out.append([])
        counts[slot][spec.name] = counts[slot].get(spec.name, 0) + 1
        out[slot].append((spec, value))
    return out


batcher = Batcher()
