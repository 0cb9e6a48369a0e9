"""Prometheus text exposition, hand-written: the handful of series this server needs do not
justify another dependency."""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in pairs
    )
    return "{" + inner + "}"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value
        self.n += 1


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.errors: dict[tuple[tuple[str, str], ...], int] = defaultdict(int)
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self.latency: dict[str, _Histogram] = defaultdict(_Histogram)
        self.ttft: dict[str, _Histogram] = defaultdict(_Histogram)
        self.started = time.time()
        # Decode speed, smoothed: what heartbeats report as tokens_per_second.
        self.tokens_per_second = 0.0

    def count_request(self, endpoint: str, status: int) -> None:
        self.requests[(("endpoint", endpoint), ("status", str(status)))] += 1
        if status >= 400:
            kind = "client" if status < 500 else "server"
            self.errors[(("endpoint", endpoint), ("kind", kind))] += 1

    def observe_generation(
        self,
        endpoint: str,
        seconds: float,
        first_token_s: float | None,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        self.latency[endpoint].observe(seconds)
        if first_token_s is not None:
            self.ttft[endpoint].observe(first_token_s)
        self.prompt_tokens += prompt_tokens
        self.generated_tokens += completion_tokens
        decode_s = seconds - (first_token_s or 0.0)
        if completion_tokens > 1 and decode_s > 0:
            rate = (completion_tokens - 1) / decode_s
            a = 0.2
            self.tokens_per_second = (
                rate if self.tokens_per_second == 0 else a * rate + (1 - a) * self.tokens_per_second
            )

    def render(
        self, gauges: Callable[[], dict[str, tuple[str, float]]], info: dict[str, str]
    ) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("model_server_info", "gauge", "Served model, version and backend.")
        out.append(f"model_server_info{_labels(tuple(sorted(info.items())))} 1")
        family("model_server_requests_total", "counter", "HTTP requests by endpoint and status.")
        for key, value in sorted(self.requests.items()):
            out.append(f"model_server_requests_total{_labels(key)} {value}")
        family("model_server_errors_total", "counter", "Requests answered with an error status.")
        for key, value in sorted(self.errors.items()):
            out.append(f"model_server_errors_total{_labels(key)} {value}")
        family("model_server_prompt_tokens_total", "counter", "Prompt tokens processed.")
        out.append(f"model_server_prompt_tokens_total {self.prompt_tokens}")
        family("model_server_generated_tokens_total", "counter", "Completion tokens generated.")
        out.append(f"model_server_generated_tokens_total {self.generated_tokens}")
        for name, hists, help_text in (
            ("model_server_request_duration_seconds", self.latency, "Generation latency."),
            ("model_server_time_to_first_token_seconds", self.ttft, "Time to first token."),
        ):
            family(name, "histogram", help_text)
            for endpoint, hist in sorted(hists.items()):
                cumulative = 0
                for bound, count in zip(LATENCY_BUCKETS, hist.counts, strict=False):
                    cumulative += count
                    labels = _labels((("endpoint", endpoint), ("le", repr(bound))))
                    out.append(f"{name}_bucket{labels} {cumulative}")
                labels = _labels((("endpoint", endpoint), ("le", "+Inf")))
                out.append(f"{name}_bucket{labels} {hist.n}")
                out.append(f"{name}_sum{_labels((('endpoint', endpoint),))} {hist.total:.6f}")
                out.append(f"{name}_count{_labels((('endpoint', endpoint),))} {hist.n}")
        for name, (kind, value) in sorted(gauges().items()):
            family(name, kind, name.replace("model_server_", "").replace("_", " ") + ".")
            out.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
        return "\n".join(out) + "\n"
