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
    lists: dict[str, tuple[MetricSpec, list[float]]] = {}
    for spec, value in values:
        lists.setdefault(spec.name, (spec, []))[1].append(float(value))
    return _document_of_lists(service, dims, list(lists.values()), namespace)


def _document_of_lists(
    service: str,
    dims: Mapping[str, str],
    lists: Sequence[tuple[MetricSpec, list[float]]],
    namespace: str,
) -> dict[str, Any]:
    from aws_lambda_powertools.metrics import EphemeralMetrics

    # EphemeralMetrics keeps no global state, so concurrent requests never mix dimensions.
    doc = EphemeralMetrics(namespace=namespace, service=service)
    for key, value in dims.items():
        doc.add_dimension(name=key, value=value)
    for spec, numbers in lists:
        # Powertools checks each metric's name, unit and first value once. Adding every value
        # through it would cost a check and a debug-log format of the growing list per value,
        # and its 100th value of one metric prints the set to stdout and clears it, away from
        # MOTHERFLUXER_EMF_FILE.
        doc.add_metric(name=spec.name, unit=spec.unit, value=numbers[0])
    metrics = {
        spec.name: {**doc.metric_set[spec.name], "Value": numbers} for spec, numbers in lists
    }
    return doc.serialize_metric_set(metrics=metrics)


# CloudWatch takes at most 100 values per metric in one document.
MAX_VALUES = 100

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


class Batcher:
    """Long-running processes: one document per series per interval instead of per request.

    Values are kept in order and sent as EMF value lists, so CloudWatch computes the same sums,
    counts and percentiles as from single documents; what is saved is the serializing and the
    write per request. A daemon thread flushes every `interval_s`, and once more at exit.
    """

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        # Per series, each metric's values in arrival order.
        self._series: dict[SeriesKey, dict[str, tuple[MetricSpec, list[float]]]] = {}
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
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = {}
            for spec, value in values:
                entry = series.get(spec.name)
                if entry is None:
                    entry = series[spec.name] = (spec, [])
                entry[1].append(float(value))
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
            batch, self._series = self._series, {}
        for (namespace, service, dims), metrics in batch.items():
            for chunk in _chunks(list(metrics.values())):
                try:
                    write(_document_of_lists(service, dict(dims), chunk, namespace))
                except Exception:
                    # One bad document must not end the flushing thread: every later value
                    # would pile up unflushed in memory.
                    logger.exception("EMF document for %s %s not written", service, dims)


def _chunks(
    metrics: list[tuple[MetricSpec, list[float]]],
) -> list[list[tuple[MetricSpec, list[float]]]]:
    """Documents with at most MAX_VALUES values of any metric, values kept in order."""
    longest = max((len(values) for _, values in metrics), default=0)
    return [
        [(spec, values[i : i + MAX_VALUES]) for spec, values in metrics if len(values) > i]
        for i in range(0, longest, MAX_VALUES)
    ]


batcher = Batcher()
