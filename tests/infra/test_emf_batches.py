"""The long-running router's EMF batches: every value reaches the local EMF file, however
many a series gets in one interval, and nothing goes to stdout instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contracts import emf
from contracts import metrics as contract

DIMS = {"model": "m", "version": "1"}


def _values(path: Path, name: str) -> list[float]:
    out: list[float] = []
    for line in path.read_text().splitlines():
        value = json.loads(line).get(name)
        if value is not None:
            out.extend(value if isinstance(value, list) else [value])
    return out


def test_a_busy_series_lands_whole_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = tmp_path / "metrics.emf.jsonl"
    monkeypatch.setenv("MOTHERFLUXER_EMF_FILE", str(sink))
    batcher = emf.Batcher(interval_s=3600)
    for i in range(250):
        batcher.add(
            contract.ROUTER_SERVICE,
            DIMS,
            [(contract.REQUESTS, 1), (contract.LATENCY_MS, float(i))],
            contract.NAMESPACE,
        )
    batcher.flush()

    assert _values(sink, "Requests") == [1.0] * 250
    assert _values(sink, "LatencyMs") == [float(i) for i in range(250)]
    docs = [json.loads(line) for line in sink.read_text().splitlines()]
    # CloudWatch takes at most 100 values of one metric per document.
    assert len(docs) == 3
    assert all(len(d["Requests"]) <= emf.MAX_VALUES for d in docs)
    assert docs[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "Requests", "Unit": "Count"},
        {"Name": "LatencyMs", "Unit": "Milliseconds"},
    ]
    assert docs[0]["service"] == "router" and docs[0]["model"] == "m"
    assert capsys.readouterr().out == ""


def test_a_document_that_cannot_be_written_spares_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = tmp_path / "metrics.emf.jsonl"
    monkeypatch.setenv("MOTHERFLUXER_EMF_FILE", str(sink))
    batcher = emf.Batcher(interval_s=3600)
    bad = contract.MetricSpec("", contract.ROUTER_SERVICE, ("model", "version"))
    batcher.add(contract.ROUTER_SERVICE, {"model": "x", "version": "1"}, [(bad, 1)], "NS")
    batcher.add(contract.ROUTER_SERVICE, DIMS, [(contract.REQUESTS, 1)], contract.NAMESPACE)
    batcher.flush()
    assert _values(sink, "Requests") == [1.0]
