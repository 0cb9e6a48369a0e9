"""Router metrics: EMF documents shaped by the metric contract (per request in Lambda,
batched per series and second in a long-running process).

Documents go to stdout in Lambda and to MOTHERFLUXER_EMF_FILE locally (contracts.emf); with
neither, a debug log line stands in. Every request also feeds the process's Prometheus
registry (router/prometheus.py, `GET /metrics`). The first document of an execution environment is
preceded by a `ColdStart` count for the function, as the dashboards expect.
"""

from __future__ import annotations

import logging
import os

from contracts import emf as emf_sink
from contracts import env
from contracts import metrics as contract
from router import prometheus
from router.dispatch import Outcome

logger = logging.getLogger("motherfluxer.router")


class RouterMetrics:
    """Emits one EMF document per request (model and version as dimensions)."""

    _cold = True  # per process: the first emitter to see it reports the cold start

    def __init__(self, namespace: str = contract.NAMESPACE, *, emf: bool | None = None) -> None:
        self._namespace = namespace
        self._emf = emf if emf is not None else emf_sink.enabled()
        # A long-running process: Prometheus is scraped from it and EMF is batched. Per
        # Lambda execution environment a registry would mean nothing to a scraper.
        self._long_running = not os.environ.get(env.LAMBDA_FUNCTION_NAME)

    def _emit(self, dims: dict[str, str], values: list[tuple[contract.MetricSpec, float]]) -> None:
        if RouterMetrics._cold:
            RouterMetrics._cold = False
            function = os.environ.get(env.LAMBDA_FUNCTION_NAME) or "local-router"
            emf_sink.emit(
                contract.ROUTER_SERVICE,
                {"function_name": function},
                [(contract.ROUTER_COLD_START, 1)],
                self._namespace,
            )
        if self._long_running:
            # One document per series a second; a Lambda environment may freeze before that.
            emf_sink.batcher.add(contract.ROUTER_SERVICE, dims, values, self._namespace)
        else:
            emf_sink.emit(contract.ROUTER_SERVICE, dims, values, self._namespace)

    def record(self, outcome: Outcome) -> None:
        usage = outcome.usage
        if self._long_running:
            prometheus.observe(
                outcome.model or "none",
                outcome.version or "none",
                outcome.status,
                outcome.latency_ms,
                outcome.overhead_ms,
                outcome.attempts,
                outcome.fallback,
                usage.prompt_tokens if usage is not None else None,
                usage.completion_tokens if usage is not None else None,
            )
        if not self._emf:
            logger.debug(
                "request done",
                extra={
                    "request_id": outcome.request_id,
                    "model": outcome.model,
                    "status": outcome.status,
                    "attempts": outcome.attempts,
                },
            )
            return
        values: list[tuple[contract.MetricSpec, float]] = [
            (contract.REQUESTS, 1),
            (contract.LATENCY_MS, outcome.latency_ms),
            (contract.OVERHEAD_MS, outcome.overhead_ms),
        ]
        if outcome.status >= 400:
            values.append((contract.ERRORS, 1))
        if outcome.status >= 500:
            values.append((contract.ERRORS_5XX, 1))
        if outcome.attempts > 1:
            values.append((contract.RETRIES, outcome.attempts - 1))
        if outcome.fallback:
            values.append((contract.FALLBACKS, 1))
        if outcome.usage is not None:
            values.append((contract.TOKENS_IN, outcome.usage.prompt_tokens))
            values.append((contract.TOKENS_OUT, outcome.usage.completion_tokens))
        dims = {"model": outcome.model or "none", "version": outcome.version or "none"}
        self._emit(dims, values)

    def count(self, name: str, value: float = 1.0, **dims: str) -> None:
        spec = contract.COUNTED_METRICS.get(name)
        if self._long_running and spec is not None and set(dims) == set(spec.dimensions):
            prometheus.count(name, value, {d: dims[d] for d in spec.dimensions})
        if not self._emf:
            return
        if spec is None or set(dims) != set(spec.dimensions):
            # A metric outside the contract lands in a series no dashboard reads; say so
            # loudly, but never fail the request over it.
            logger.error("metric %s%s is not in the metric contract", name, sorted(dims))
            return
        self._emit(dict(dims), [(spec, value)])
