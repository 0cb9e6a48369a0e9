"""Issue 14's deploy-time defects, each checked on the synthesized templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config
from infra.model_startup import EcsHealthTiming, image_start_seconds
from tests.infra.conftest import ROOT, STAGES, Synth, as_list, load_app_module, policy_statements

pytestmark = pytest.mark.synth


def _by_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


@pytest.mark.parametrize("stage", STAGES)
def test_ecs_services_wait_for_the_capacity_provider_association(synth: Synth, stage: str) -> None:
    template = synth.template(stage, "Models")
    (association,) = _by_type(template, "AWS::ECS::ClusterCapacityProviderAssociations")
    services = _by_type(template, "AWS::ECS::Service")
    assert services
    for service in services.values():
        assert association in service["DependsOn"]


@pytest.mark.parametrize("stage", STAGES)
def test_gpu_hosts_boot_the_al2023_gpu_ami(synth: Synth, stage: str) -> None:
    params = json.dumps(synth.template(stage, "Models")["Parameters"])
    assert "/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id" in params
    assert "amazon-linux-2/" not in params


@pytest.mark.parametrize("stage", STAGES)
def test_health_check_grace_covers_the_image_start_period(
    synth: Synth, stage: str, containers_dir: Path
) -> None:
    start = image_start_seconds(containers_dir)
    for task in _by_type(synth.template(stage, "Models"), "AWS::ECS::TaskDefinition").values():
        check = task["Properties"]["ContainerDefinitions"][0]["HealthCheck"]
        assert check["StartPeriod"] <= 300  # the most ECS accepts
        assert check["StartPeriod"] + check["Interval"] * check["Retries"] >= start
    if stage == "prod":
        # Inference components carry the start-up timeout (their variant has no model).
        components = _by_type(synth.template(stage, "Models"), "AWS::SageMaker::InferenceComponent")
        assert components
        for component in components.values():
            startup = component["Properties"]["Specification"]["StartupParameters"]
            assert startup["ContainerStartupHealthCheckTimeoutInSeconds"] == max(60, start)


def test_start_period_is_read_from_the_image_healthcheck(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        'FROM x\nHEALTHCHECK --interval=15s --start-period=12m --retries=3 CMD ["true"]\n'
    )
    assert image_start_seconds(tmp_path) == 720
    timing = EcsHealthTiming.covering(720)
    assert timing.start_period_s == 300 and timing.grace_s >= 720 and timing.retries <= 10
    assert image_start_seconds(ROOT / "containers") > 0


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_has_a_gpu_service_that_can_scale_to_zero(synth: Synth, stage: str) -> None:
    template = synth.template(stage, "Models")
    (asg,) = _by_type(template, "AWS::AutoScaling::AutoScalingGroup").values()
    assert asg["Properties"]["MinSize"] == "0"
    targets = _by_type(template, "AWS::ApplicationAutoScaling::ScalableTarget")
    ecs_targets = [
        t
        for t in targets.values()
        if t["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"
    ]
    assert ecs_targets and all(t["Properties"]["MinCapacity"] == 0 for t in ecs_targets)
    policies = _by_type(template, "AWS::ApplicationAutoScaling::ScalingPolicy")
    names = " ".join(policies)
    assert "Wake" in names and "Sleep" in names
    alarms = json.dumps(_by_type(template, "AWS::CloudWatch::Alarm"))
    assert "WakeRequests" in alarms and "FILL(requests, 0)" in alarms
    if stage == "dev":
        (service,) = _by_type(template, "AWS::ECS::Service").values()
        assert service["Properties"]["DesiredCount"] == 0  # dev starts asleep


def test_scale_to_zero_models_raise_no_no_healthy_instance_alarm(synth: Synth) -> None:
    # Sleeping is phi-2's idle state in dev; the external fallback keeps its alarm.
    alarms = synth.resources("dev", "Monitoring", "AWS::CloudWatch::Alarm")
    names = " ".join(alarms)
    assert "NoHealthyInstancephi2" not in names
    assert "NoHealthyInstancegpt4omini" in names


@pytest.mark.parametrize("stage", STAGES)
def test_web_adapter_layer_is_version_26_in_the_aws_partition(synth: Synth, stage: str) -> None:
    for fn in synth.resources(stage, "Api", "AWS::Lambda::Function").values():
        if fn["Properties"].get("Handler") == "run.sh":
            layers = json.dumps(fn["Properties"]["Layers"])
            assert "arn:aws:lambda:" in layers and "LambdaAdapterLayerArm64:26" in layers
            assert "AWS::Partition" not in layers


def test_the_app_targets_the_aws_partition_only() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert context["@aws-cdk/core:target-partitions"] == ["aws"]
    stages = context["stages"]
    bad = {"dev": {**stages["dev"], "env": {"region": "cn-north-1"}}}
    with pytest.raises(ConfigError, match="outside the aws partition"):
        load_config({"stages": bad})


@pytest.mark.parametrize("stage", STAGES)
def test_long_buffered_requests_have_a_door_that_can_finish(synth: Synth, stage: str) -> None:
    functions = synth.resources(stage, "Api", "AWS::Lambda::Function").values()
    by_handler = {f["Properties"].get("Handler"): f["Properties"] for f in functions}
    router, stream = by_handler["router.handler.handler"], by_handler["run.sh"]
    # The router ends a request itself (JSON 504) before the 30 s HTTP API limit.
    router_deadline = float(router["Environment"]["Variables"]["MOTHERFLUXER_REQUEST_TIMEOUT_S"])
    assert router_deadline < router["Timeout"] <= 30
    # The stream door carries buffered bodies too, for up to 15 minutes.
    assert stream["Timeout"] == 900
    assert float(stream["Environment"]["Variables"]["MOTHERFLUXER_REQUEST_TIMEOUT_S"]) > 200
    for method in synth.resources(stage, "Api", "AWS::ApiGateway::Method").values():
        assert method["Properties"]["Integration"]["TimeoutInMillis"] == 900_000


# -- registration with IAM authorization (registration_iam_auth: true) ---------------------


@pytest.fixture(scope="module")
def iam_registration(tmp_path_factory: pytest.TempPathFactory, containers_dir: Path) -> Synth:
    stages = json.loads((ROOT / "cdk.json").read_text())["context"]["stages"]
    prod = {**stages["prod"], "registration_iam_auth": True}
    outdir = tmp_path_factory.mktemp("cdk.out.iam")
    app = load_app_module().build_app(
        context={"nag": True, "stage": "prod", "stages": {"prod": prod}},
        outdir=str(outdir),
        containers_dir=containers_dir,
    )
    app.synth()
    templates = {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in outdir.glob("*.template.json")
    }
    return Synth(outdir, templates, {}, {})


def test_iam_registration_routes_use_iam_and_only_ecs_task_roles_may_call_them(
    iam_registration: Synth,
) -> None:
    routes = iam_registration.resources("prod", "Api", "AWS::ApiGatewayV2::Route").values()
    by_key = {r["Properties"]["RouteKey"]: r["Properties"] for r in routes}
    for key in ("POST /instances/register", "POST /instances/{instance_id}/heartbeat"):
        assert by_key[key]["AuthorizationType"] == "AWS_IAM"
    assert by_key["ANY /{proxy+}"].get("AuthorizationType", "NONE") == "NONE"
    ((policy_id, policy),) = iam_registration.resources(
        "prod", "Api", "AWS::IAM::ManagedPolicy"
    ).items()
    (invoke,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert invoke["Action"] == "execute-api:Invoke"
    roles = iam_registration.resources("prod", "Models", "AWS::IAM::Role")
    attached = [k for k, r in roles.items() if policy_id in json.dumps(r["Properties"])]
    tasks = iam_registration.resources("prod", "Models", "AWS::ECS::TaskDefinition")
    assert len(attached) == len(tasks)
    assert all("TaskRole" in k for k in attached)
    sagemaker_actions = [
        a
        for k, p in iam_registration.resources("prod", "Models", "AWS::IAM::Policy").items()
        if "SageMaker" in k
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        for a in as_list(s["Action"])
    ]
    assert sagemaker_actions and "execute-api:Invoke" not in sagemaker_actions
    env = next(
        f["Properties"]["Environment"]["Variables"]
        for f in iam_registration.resources("prod", "Api", "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "router.handler.handler"
    )
    assert env["MOTHERFLUXER_REGISTRATION_IAM"] == "true"
    assert policy_statements(iam_registration.template("prod", "Api"))


def test_iam4_and_iam5_are_acknowledged_per_resource_never_per_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, containers_dir: Path
) -> None:
    import aws_cdk as cdk

    import infra.nag as nag

    scopes: list[tuple[str, str]] = []
    real = nag.ack

    def recording(scope, rule: str, reason: str) -> None:
        kind = "stack" if isinstance(scope, cdk.Stack) else "resource"
        scopes.append((kind, rule))
        real(scope, rule, reason)

    monkeypatch.setattr(nag, "ack", recording)
    # Building the constructs runs the acknowledgements; no synthesis needed.
    load_app_module().build_app(
        context={"nag": True}, outdir=str(tmp_path), containers_dir=containers_dir
    )
    iam = [(k, r) for k, r in scopes if r.startswith(("IAM4", "IAM5"))]
    assert len(iam) > 20
    assert [r for k, r in iam if k == "stack"] == []
