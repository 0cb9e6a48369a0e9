"""The health-checker Lambda end to end on moto: static instances, probes, EMF metrics."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from registry.repository import InstanceRepository, create_table
from routing.instances import Instance
from tests.support.fault_upstream import start_fault_upstream


class _Context:
    function_name = "motherfluxer-test-health"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:health"
    aws_request_id = "req-health"


def test_scheduled_round(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    upstream = start_fault_upstream(model="m", name="hc-lambda")
    try:
        with mock_aws():
            client = boto3.client("dynamodb", region_name="us-east-1")
            create_table(client, "instances")
            repo = InstanceRepository(client, "instances")
            repo.put(
                Instance(
                    "up", "m", "v1", "openai", upstream.url,
                    status="unhealthy", last_heartbeat=time.time(), lease_seconds=0,
                )
            )  # fmt: skip
            repo.put(
                Instance(
                    "down", "m", "v1", "openai", "http://127.0.0.1:9",
                    last_heartbeat=time.time(), lease_seconds=0,
                )
            )  # fmt: skip
            monkeypatch.setenv("MOTHERFLUXER_INSTANCES_TABLE", "instances")
            monkeypatch.setenv(
                "MOTHERFLUXER_EXTERNAL_PROVIDERS",
                json.dumps({"m": {"provider": "openai", "base_url": upstream.url + "/"}}),
            )
            import health_checker.handler as entry

            monkeypatch.setattr(entry, "_repo", None)
            result = entry.handler({"source": "aws.events"}, _Context())

            # The provider instance is judged passively (an active probe would cost requests).
            assert result["probed"] == 2
            assert repo.get("ext-m").kind == "external"
            assert repo.get("up").status == "healthy", "a passing probe brings an instance back"
            assert repo.get("down").status == "unhealthy"
            assert repo.get("ext-m").endpoint == upstream.url
            emf = [
                json.loads(line)
                for line in capsys.readouterr().out.splitlines()
                if '"_aws"' in line
            ]
            metrics = {
                m["Name"] for doc in emf for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            }
            assert {"HealthyInstances", "UnhealthyInstances", "NoHealthyInstance"} <= metrics
            per_model = [doc for doc in emf if "model" in doc]
            assert per_model[0]["HealthyInstances"] in (2, [2.0]) and per_model[0]["model"] == "m"
    finally:
        upstream.stop()
