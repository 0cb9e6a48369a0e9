"""Prod's SageMaker models are inference components that can sleep at zero and wake on demand."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synth

pytestmark = pytest.mark.synth

ENDPOINTS = {"mf-prod-phi-2-v1", "mf-prod-phi-2-v2"}
COMPONENTS = {"mf-prod-phi-2-v1-ic", "mf-prod-phi-2-v2-ic"}


def _models(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.template("prod", "Models")["Resources"]


def _of(res: dict[str, dict[str, Any]], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in res.items() if v["Type"] == type_}


def test_endpoint_configs_let_instances_go_to_zero(synth: Synth) -> None:
    configs = _of(_models(synth), "AWS::SageMaker::EndpointConfig")
    assert len(configs) == 2
    for config in configs.values():
        props = config["Properties"]
        # Inference components need the role on the config, and the variant names no model.
        assert "Fn::GetAtt" in props["ExecutionRoleArn"]
        (variant,) = props["ProductionVariants"]
        assert "ModelName" not in variant
        assert variant["ManagedInstanceScaling"]["Status"] == "ENABLED"
        assert variant["ManagedInstanceScaling"]["MinInstanceCount"] == 0
        assert variant["ManagedInstanceScaling"]["MaxInstanceCount"] >= 1
        assert variant["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
        assert props["VpcConfig"]["Subnets"]


def test_one_inference_component_per_version_on_its_endpoint(synth: Synth) -> None:
    res = _models(synth)
    endpoints = _of(res, "AWS::SageMaker::Endpoint")
    models = _of(res, "AWS::SageMaker::Model")
    components = _of(res, "AWS::SageMaker::InferenceComponent")
    assert {c["Properties"]["InferenceComponentName"] for c in components.values()} == COMPONENTS
    for component in components.values():
        props = component["Properties"]
        endpoint_id = props["EndpointName"]["Fn::GetAtt"][0]
        assert endpoint_id in endpoints
        name = endpoints[endpoint_id]["Properties"]["EndpointName"]
        # v1's component sits on v1's endpoint.
        assert props["InferenceComponentName"] == f"{name}-ic"
        spec = props["Specification"]
        assert spec["ModelName"]["Fn::GetAtt"][0] in models
        compute = spec["ComputeResourceRequirements"]
        assert compute["NumberOfAcceleratorDevicesRequired"] == 1
        assert compute["MinMemoryRequiredInMb"] > 0
        assert props["RuntimeConfig"]["CopyCount"] >= 1


def _scaling(res: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Inference component name -> its scalable target's logical id and properties."""
    out = {}
    for logical_id, target in _of(res, "AWS::ApplicationAutoScaling::ScalableTarget").items():
        props = target["Properties"]
        if props["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount":
            out[props["ResourceId"].removeprefix("inference-component/")] = {
                "id": logical_id,
                **props,
            }
    return out


def test_copies_autoscale_down_to_zero_on_concurrency(synth: Synth) -> None:
    res = _models(synth)
    targets = _scaling(res)
    assert set(targets) == COMPONENTS
    policies = _of(res, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    for name, target in targets.items():
        assert target["MinCapacity"] == 0 and target["MaxCapacity"] >= 1, name
        tracking = [
            p["Properties"]["TargetTrackingScalingPolicyConfiguration"]
            for p in policies
            if p["Properties"].get("ScalingTargetId") == {"Ref": target["id"]}
            and p["Properties"]["PolicyType"] == "TargetTrackingScaling"
        ]
        (config,) = tracking
        assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
            "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
        )
        assert config["TargetValue"] > 0


def test_a_request_finding_no_copy_wakes_the_component(synth: Synth) -> None:
    """AWS's wake path: NoCapacityInvocationFailures >= 1 (or the router's WakeRequests for
    the model) runs a step policy adding a copy."""
    res = _models(synth)
    targets = _scaling(res)
    steps = {
        logical_id: p["Properties"]
        for logical_id, p in _of(res, "AWS::ApplicationAutoScaling::ScalingPolicy").items()
        if p["Properties"]["PolicyType"] == "StepScaling"
    }
    alarms = [
        a["Properties"]
        for a in _of(res, "AWS::CloudWatch::Alarm").values()
        if "NoCapacityInvocationFailures" in json.dumps(a["Properties"].get("Metrics", []))
    ]
    assert len(alarms) == len(COMPONENTS)
    woken = set()
    for alarm in alarms:
        queries = {q["Id"]: q for q in alarm["Metrics"]}
        nocap = queries["nocapacity"]["MetricStat"]["Metric"]
        assert nocap["Namespace"] == "AWS/SageMaker"
        (dim,) = nocap["Dimensions"]
        assert dim["Name"] == "InferenceComponentName"
        component = dim["Value"]
        # The router's own wake signal, for when the health checker has taken it out.
        wakes = queries["wakes"]["MetricStat"]["Metric"]
        assert wakes["MetricName"] == "WakeRequests"
        assert {"Name": "model", "Value": "phi-2"} in wakes["Dimensions"]
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["Threshold"] == 1 and alarm["EvaluationPeriods"] == 1
        assert alarm["TreatMissingData"] == "notBreaching"
        (action,) = alarm["AlarmActions"]
        policy = steps[action["Fn::GetAtt"][0]]
        assert policy["ScalingTargetId"] == {"Ref": targets[component]["id"]}
        config = policy["StepScalingPolicyConfiguration"]
        assert config["AdjustmentType"] == "ChangeInCapacity"
        assert config["StepAdjustments"] == [
            {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
        ]
        woken.add(component)
    assert woken == COMPONENTS


def test_router_knows_each_endpoints_component_and_wake_time(synth: Synth) -> None:
    functions = synth.resources("prod", "Api", "AWS::Lambda::Function").values()
    seen = []
    for fn in functions:
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        if "MOTHERFLUXER_SAGEMAKER_COMPONENTS" in variables:
            seen.append(json.loads(variables["MOTHERFLUXER_SAGEMAKER_COMPONENTS"]))
    assert seen
    for components in seen:
        assert set(components) == ENDPOINTS
        assert {c["component"] for c in components.values()} == COMPONENTS
        assert all(c["wake_seconds"] >= 300 for c in components.values())
    params = synth.resources("prod", "Api", "AWS::SSM::Parameter").values()
    doc = json.loads(next(iter(params))["Properties"]["Value"])
    # The router treats a sleeping SageMaker model like a sleeping ECS one (router/wake.py).
    assert doc["scale_to_zero"]["phi-2"]["wake_seconds"] >= 300


def test_health_checker_may_read_the_components_copy_count(synth: Synth) -> None:
    from tests.infra.conftest import as_list, policy_statements

    statements = policy_statements(synth.template("prod", "Api"))
    describe = [
        s for s in statements if "sagemaker:DescribeInferenceComponent" in as_list(s["Action"])
    ]
    (statement,) = describe
    text = json.dumps(statement["Resource"])
    for name in COMPONENTS:
        assert f"inference-component/{name}" in text
