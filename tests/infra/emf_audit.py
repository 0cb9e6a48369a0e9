"""Read what the emitters print (EMF) and what the templates query, as comparable tuples.

A series is (namespace, metric name, dimension names, service value): CloudWatch files a
metric under exactly its dimension set, so a query matches an emitted series only if all
four agree. Also a command: check a local stack's `.local/logs/metrics.emf.jsonl` against a
synthesized cloud assembly:

    python -m tests.infra.emf_audit .local/logs/metrics.emf.jsonl cdk.out
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.metrics import NAMESPACE, SERVICE_DIMENSION


@dataclass(frozen=True)
class Series:
    namespace: str
    name: str
    dimensions: frozenset[str]
    service: str | None

    def __str__(self) -> str:
        dims = ",".join(sorted(self.dimensions))
        return f"{self.namespace}/{self.name}[{dims}] service={self.service}"


@dataclass(frozen=True)
class Query:
    where: str  # resource logical id (dashboard or alarm) in its template
    series: Series


def emitted(documents: Iterable[dict[str, Any]]) -> set[Series]:
    out: set[Series] = set()
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    service = doc.get(SERVICE_DIMENSION) if SERVICE_DIMENSION in dims else None
                    out.add(
                        Series(directive["Namespace"], metric["Name"], frozenset(dims), service)
                    )
    return out


def read_emf_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if '"_aws"' in line]


def _flatten(value: Any) -> str:
    """A template string with intrinsics (Fn::Join, Ref, ...) replaced by a placeholder."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_flatten(p) for p in parts)
    return "TOKEN"


def _series_of_array(row: list[Any]) -> Series | None:
    """A dashboard metric row: [namespace, name, k1, v1, ..., {options}]; math rows skipped."""
    if not row or not isinstance(row[0], str):
        return None
    fields = [x for x in row if not isinstance(x, dict)]
    namespace, name, *pairs = fields
    dims = dict(zip(pairs[::2], pairs[1::2], strict=True))
    return Series(namespace, name, frozenset(dims), dims.get(SERVICE_DIMENSION))


def _series_of_stat(metric: dict[str, Any]) -> Series:
    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
    service = dims.get(SERVICE_DIMENSION)
    return Series(
        metric["Namespace"],
        metric["MetricName"],
        frozenset(dims),
        service if isinstance(service, str) else None,
    )


def queries(templates: dict[str, dict[str, Any]], namespace: str = NAMESPACE) -> Iterator[Query]:
    """Every dashboard line and alarm input in `namespace`, across all templates."""
    for stack, template in templates.items():
        for logical_id, resource in template.get("Resources", {}).items():
            where = f"{stack}/{logical_id}"
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::CloudWatch::Dashboard":
                body = json.loads(_flatten(props["DashboardBody"]))
                for widget in body["widgets"]:
                    for row in widget.get("properties", {}).get("metrics", []):
                        series = _series_of_array(row)
                        if series and series.namespace == namespace:
                            yield Query(where, series)
            elif resource["Type"] == "AWS::CloudWatch::Alarm":
                stats = [props] if "MetricName" in props else []
                stats += [
                    q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q
                ]
                for stat in stats:
                    series = _series_of_stat(stat)
                    if series.namespace == namespace:
                        yield Query(where, series)


def unmatched(found: Iterable[Query], series: set[Series]) -> list[str]:
    return sorted({f"{q.where}: {q.series}" for q in found if q.series not in series})


def load_templates(outdir: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in outdir.glob("*.template.json")
    }


def main(argv: list[str]) -> int:
    emf_file, outdir = Path(argv[0]), Path(argv[1])
    series = emitted(read_emf_lines(emf_file.read_text().splitlines()))
    found = list(queries(load_templates(outdir)))
    names_seen = {(s.namespace, s.name) for s in series}
    relevant = [q for q in found if (q.series.namespace, q.series.name) in names_seen]
    missing = unmatched(relevant, series)
    print(f"{len(series)} emitted series; {len(relevant)} queries of metrics found in the file")
    for line in missing:
        print("NO MATCH", line)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
