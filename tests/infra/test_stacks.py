"""What each synthesized stack contains, for both stages (one synthesis per session)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import STAGES, Synth, as_list, policy_statements

pytestmark = pytest.mark.synth


def _only(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.values()))


def _function(synth: Synth, stage: str, handler: str) -> tuple[str, dict[str, Any]]:
    for logical_id, fn in synth.resources(stage, "Api", "AWS::Lambda::Function").items():
        if fn["Properties"].get("Handler") == handler:
            return logical_id, fn
    raise AssertionError(f"no function with handler {handler}")


# -- every stage has every stack ---------------------------------------------------------------


def test_both_stages_synthesize_every_stack(synth: Synth) -> None:
    expected = {
        f"MotherFluxer-{s}-{k}"
        for s in STAGES
        for k in ("Network", "Data", "Api", "Models", "Monitoring")
    }
    assert expected <= set(synth.templates)


# -- network -------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_network_has_private_subnets_endpoints_and_flow_logs(synth: Synth, stage: str) -> None:
    template = synth.assertions(stage, "Network")
    template.resource_count_is("AWS::EC2::VPC", 1)
    template.has_resource_properties("AWS::EC2::FlowLog", {"ResourceType": "VPC"})
    endpoints = synth.resources(stage, "Network", "AWS::EC2::VPCEndpoint").values()
    interface = [e for e in endpoints if e["Properties"].get("VpcEndpointType") == "Interface"]
    names = json.dumps([e["Properties"]["ServiceName"] for e in interface])
    if stage == "prod":
        for service in ("secretsmanager", "sagemaker.runtime", "sagemaker.api", "sqs", "ssm"):
            assert service in names
    else:
        # dev idles cheaply: AWS APIs go through its NAT instance, no interface endpoint.
        assert interface == []
    gateway = [e for e in endpoints if e["Properties"].get("VpcEndpointType") in (None, "Gateway")]
    assert any("dynamodb" in json.dumps(e) for e in gateway)
    subnets = synth.resources(stage, "Network", "AWS::EC2::Subnet").values()
    private = [s for s in subnets if not s["Properties"].get("MapPublicIpOnLaunch")]
    azs = 1 if stage == "dev" else 2
    assert len(private) == 2 * azs  # app + data subnets per AZ


def test_dev_egress_is_one_nat_instance_and_prod_uses_nat_gateways(synth: Synth) -> None:
    dev = synth.assertions("dev", "Network")
    dev.resource_count_is("AWS::EC2::NatGateway", 0)
    (instance,) = synth.resources("dev", "Network", "AWS::EC2::Instance").values()
    assert instance["Properties"]["InstanceType"] == "t4g.nano"
    assert instance["Properties"]["SourceDestCheck"] is False
    prod = synth.assertions("prod", "Network")
    prod.resource_count_is("AWS::EC2::NatGateway", 2)
    prod.resource_count_is("AWS::EC2::Instance", 0)


def test_sagemaker_endpoints_only_where_a_model_is_hosted_on_sagemaker(synth: Synth) -> None:
    for stage, wanted in (("dev", False), ("prod", True)):
        endpoints = synth.resources(stage, "Network", "AWS::EC2::VPCEndpoint").values()
        assert ("sagemaker" in json.dumps(list(endpoints))) is wanted, stage


# -- data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_data_stack_is_termination_protected(synth: Synth, stage: str) -> None:
    artifact = synth.manifest["artifacts"][f"MotherFluxer-{stage}-Data"]
    assert artifact["properties"]["terminationProtection"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_instances_table(synth: Synth, stage: str) -> None:
    table = _only(synth.resources(stage, "Data", "AWS::DynamoDB::Table"))
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_postgres_is_encrypted_backed_up_rotated_and_forces_tls(synth: Synth, stage: str) -> None:
    template = synth.assertions(stage, "Data")
    prod = stage == "prod"
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "StorageEncrypted": True,
            "MultiAZ": prod,
            "DeletionProtection": prod,
            "EnableIAMDatabaseAuthentication": True,
            "BackupRetentionPeriod": Match.any_value(),
            "PubliclyAccessible": False,
        },
    )
    template.has_resource_properties(
        "AWS::RDS::DBParameterGroup", {"Parameters": Match.object_like({"rds.force_ssl": "1"})}
    )
    template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {"RotationRules": {"ScheduleExpression": "rate(30 days)"}},
    )


@pytest.mark.parametrize("stage", STAGES)
def test_cache_uses_tls_encryption_and_auth(synth: Synth, stage: str) -> None:
    cache = _only(synth.resources(stage, "Data", "AWS::ElastiCache::ReplicationGroup"))
    props = cache["Properties"]
    assert props["Engine"] == "valkey"
    assert props["TransitEncryptionEnabled"] is True
    assert props["AtRestEncryptionEnabled"] is True
    assert "resolve:secretsmanager" in json.dumps(props["AuthToken"])
    assert props["MultiAZEnabled"] is (stage == "prod")
    assert props["AutomaticFailoverEnabled"] is (stage == "prod")


@pytest.mark.parametrize("stage", STAGES)
def test_buckets_and_queues_are_encrypted_and_tls_only(synth: Synth, stage: str) -> None:
    buckets = synth.resources(stage, "Data", "AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        assert bucket["Properties"]["BucketEncryption"]
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    policies = json.dumps(synth.resources(stage, "Data", "AWS::S3::BucketPolicy"))
    assert '"aws:SecureTransport": "false"' in policies
    queues = synth.resources(stage, "Data", "AWS::SQS::Queue")
    assert len(queues) == 2
    assert all(q["Properties"]["KmsMasterKeyId"] == "alias/aws/sqs" for q in queues.values())
    assert any("RedrivePolicy" in q["Properties"] for q in queues.values())


# -- api -----------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_lambdas_are_python312_arm64_with_log_retention(synth: Synth, stage: str) -> None:
    functions = synth.resources(stage, "Api", "AWS::Lambda::Function")
    ours = {k: f for k, f in functions.items() if f["Properties"].get("FunctionName")}
    assert len(ours) == 5
    for fn in ours.values():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["VpcConfig"]["SubnetIds"]
    retention = {14 if stage == "dev" else 90}
    groups = synth.resources(stage, "Api", "AWS::Logs::LogGroup").values()
    assert {g["Properties"]["RetentionInDays"] for g in groups} == retention


@pytest.mark.parametrize("stage", STAGES)
def test_router_has_snapstart_alias_and_the_environment_it_reads(synth: Synth, stage: str) -> None:
    logical_id, router = _function(synth, stage, "router.handler.handler")
    props = router["Properties"]
    # SnapStart's snapshot cache is billed while a version is live; dev idles without it.
    if stage == "prod":
        assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    else:
        assert "SnapStart" not in props
    assert props["MemorySize"] >= 1769  # one full vCPU
    env = props["Environment"]["Variables"]
    for name in (
        "MOTHERFLUXER_INSTANCES_TABLE",
        "MOTHERFLUXER_CATALOG_PARAMETER",
        "MOTHERFLUXER_ADMIN_KEY_SECRET",
        "MOTHERFLUXER_SIGNING_SECRET",
        "MOTHERFLUXER_DATABASE_SECRET",
        "MOTHERFLUXER_REDIS_HOST",
        "MOTHERFLUXER_REDIS_PORT",
        "MOTHERFLUXER_REDIS_AUTH_SECRET",
        "MOTHERFLUXER_USAGE_QUEUE_URL",
        "POWERTOOLS_SERVICE_NAME",
    ):
        assert name in env, name
    assert env["MOTHERFLUXER_REDIS_TLS"] == "true"
    assert env["MOTHERFLUXER_STAGE"] == stage
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MotherFluxer"
    # Powertools is bundled from lambdas/requirements.txt unless a layer version is configured.
    assert "AWSLambdaPowertools" not in json.dumps(props.get("Layers", []))

    alias = _only(synth.resources(stage, "Api", "AWS::Lambda::Alias"))
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionName"] == {"Ref": logical_id}
    alias_id = next(iter(synth.resources(stage, "Api", "AWS::Lambda::Alias")))
    integrations = synth.resources(stage, "Api", "AWS::ApiGatewayV2::Integration").values()
    assert integrations
    for integration in integrations:
        assert integration["Properties"]["IntegrationUri"] == {"Ref": alias_id}


@pytest.mark.parametrize("stage", STAGES)
def test_streaming_door_uses_lambda_web_adapter_and_stream_mode(synth: Synth, stage: str) -> None:
    _, streamer = _function(synth, stage, "run.sh")
    env = streamer["Properties"]["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/health/live"
    assert "LambdaAdapterLayerArm64" in json.dumps(streamer["Properties"]["Layers"])
    methods = synth.resources(stage, "Api", "AWS::ApiGateway::Method").values()
    assert methods
    for method in methods:
        assert method["Properties"]["Integration"]["ResponseTransferMode"] == "STREAM"
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"


@pytest.mark.parametrize("stage", STAGES)
def test_apis_log_access_and_enforce_tls12(synth: Synth, stage: str) -> None:
    http_stage = _only(synth.resources(stage, "Api", "AWS::ApiGatewayV2::Stage"))
    assert http_stage["Properties"]["AccessLogSettings"]["DestinationArn"]
    assert http_stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    rest_stage = _only(synth.resources(stage, "Api", "AWS::ApiGateway::Stage"))
    assert rest_stage["Properties"]["AccessLogSetting"]["DestinationArn"]
    http_domain = _only(synth.resources(stage, "Api", "AWS::ApiGatewayV2::DomainName"))
    assert http_domain["Properties"]["DomainNameConfigurations"][0]["SecurityPolicy"] == "TLS_1_2"
    rest_domain = _only(synth.resources(stage, "Api", "AWS::ApiGateway::DomainName"))
    assert rest_domain["Properties"]["SecurityPolicy"] == "TLS_1_2"
    # Only the custom domains answer.
    for api_type in ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi"):
        api = _only(synth.resources(stage, "Api", api_type))
        assert api["Properties"]["DisableExecuteApiEndpoint"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_registration_routes_are_explicit_and_reach_the_router(synth: Synth, stage: str) -> None:
    routes = synth.resources(stage, "Api", "AWS::ApiGatewayV2::Route").values()
    by_key = {r["Properties"]["RouteKey"]: r["Properties"] for r in routes}
    for key in ("POST /instances/register", "POST /instances/{instance_id}/heartbeat"):
        # Bearer enrollment keys are checked by the router (registration_iam_auth is off).
        assert by_key[key].get("AuthorizationType", "NONE") == "NONE"
        assert by_key[key]["Target"] == by_key["ANY /{proxy+}"]["Target"]


def test_waf_rate_rule_protects_the_streaming_stage(synth: Synth) -> None:
    stage = "prod"
    # dev runs without WAF (waf: false) to idle cheaply; cdk-nag's APIG3 is acknowledged.
    assert synth.resources("dev", "Api", "AWS::WAFv2::WebACL") == {}
    acl = _only(synth.resources(stage, "Api", "AWS::WAFv2::WebACL"))
    rules = acl["Properties"]["Rules"]
    rate = [r for r in rules if "RateBasedStatement" in r["Statement"]]
    assert rate and rate[0]["Action"] == {"Block": {}}
    assert rate[0]["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    association = _only(synth.resources(stage, "Api", "AWS::WAFv2::WebACLAssociation"))
    assert "restapis" in json.dumps(association["Properties"]["ResourceArn"])


@pytest.mark.parametrize("stage", STAGES)
def test_route53_alias_points_at_the_api_custom_domain(synth: Synth, stage: str) -> None:
    records = synth.resources(stage, "Api", "AWS::Route53::RecordSet")
    domains = {
        **synth.resources(stage, "Api", "AWS::ApiGatewayV2::DomainName"),
        **synth.resources(stage, "Api", "AWS::ApiGateway::DomainName"),
    }
    zone_id = "Z0123456789DEVEXAMPLE" if stage == "dev" else "Z0123456789PRODEXAMPLE"
    a_records = [r["Properties"] for r in records.values() if r["Properties"]["Type"] == "A"]
    assert len(a_records) == 2
    for record in a_records:
        assert record["HostedZoneId"] == zone_id
        target = json.dumps(record["AliasTarget"]["DNSName"])
        assert any(logical_id in target for logical_id in domains)
        assert "RegionalDomainName" in target
    names = {r["Name"] for r in a_records}
    api_host = (
        "api.dev.motherfluxer.example.com." if stage == "dev" else "api.motherfluxer.example.com."
    )
    assert api_host in names
    certificate = _only(synth.resources(stage, "Api", "AWS::CertificateManager::Certificate"))
    assert certificate["Properties"]["ValidationMethod"] == "DNS"


@pytest.mark.parametrize("stage", STAGES)
def test_health_checker_runs_on_a_schedule(synth: Synth, stage: str) -> None:
    logical_id, _ = _function(synth, stage, "health_checker.handler.handler")
    rule = _only(synth.resources(stage, "Api", "AWS::Events::Rule"))
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert rule["Properties"]["State"] == "ENABLED"
    assert json.dumps(rule["Properties"]["Targets"][0]["Arn"]) == json.dumps(
        {"Fn::GetAtt": [logical_id, "Arn"]}
    )


@pytest.mark.parametrize("stage", STAGES)
def test_usage_drainer_and_migrations(synth: Synth, stage: str) -> None:
    drainer_id, _ = _function(synth, stage, "accounts.usage_drainer.handler")
    mapping = _only(synth.resources(stage, "Api", "AWS::Lambda::EventSourceMapping"))
    assert mapping["Properties"]["FunctionName"] == {"Ref": drainer_id}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    _function(synth, stage, "accounts.migrations_handler.handler")
    migrations = _only(synth.resources(stage, "Api", "Custom::MotherFluxerMigrations"))
    assert migrations["Properties"]["Fingerprint"]


def test_catalog_parameter_holds_routing_fields_only(synth: Synth) -> None:
    param = _only(synth.resources("prod", "Api", "AWS::SSM::Parameter"))
    assert param["Properties"]["Tier"] == "Advanced"
    catalog = json.loads(param["Properties"]["Value"])
    assert [m["id"] for m in catalog["models"]] == [
        "phi-2",
        "phi-2-ecs",
        "claude-3-5-haiku",
        # seed 004's lineup
        "gemini-2.0-flash",
        "gpt-4.1-mini",
        "deepseek-v3",
        "gpt-4o-mini",
        "claude-4-sonnet",
        "minimax-m1",
    ]
    assert all("hosting" not in m for m in catalog["models"])


def test_router_may_invoke_exactly_the_sagemaker_endpoints(synth: Synth) -> None:
    statements = policy_statements(synth.template("prod", "Api"))
    invoke = [s for s in statements if "sagemaker:InvokeEndpoint" in as_list(s["Action"])]
    assert invoke
    text = json.dumps([s["Resource"] for s in invoke])
    assert "endpoint/mf-prod-phi-2-v1" in text and "endpoint/mf-prod-phi-2-v2" in text
    describe = [s for s in statements if "sagemaker:DescribeEndpoint" in as_list(s["Action"])]
    assert describe


# -- models --------------------------------------------------------------------------------


def test_sagemaker_endpoints_on_gpu_host_inference_components(synth: Synth) -> None:
    configs = synth.resources("prod", "Models", "AWS::SageMaker::EndpointConfig").values()
    assert len(configs) == 2  # phi-2 v1 and v2
    for config in configs:
        variant = config["Properties"]["ProductionVariants"][0]
        assert variant["InstanceType"] == "ml.g5.xlarge"
    endpoints = synth.resources("prod", "Models", "AWS::SageMaker::Endpoint").values()
    assert {e["Properties"]["EndpointName"] for e in endpoints} == {
        "mf-prod-phi-2-v1",
        "mf-prod-phi-2-v2",
    }
    models = synth.resources("prod", "Models", "AWS::SageMaker::Model").values()
    for model in models:
        env = model["Properties"]["PrimaryContainer"]["Environment"]
        assert env["SERVED_MODEL_NAME"] == "phi-2"
        assert env["MODEL_ID"] == "microsoft/phi-2"
        # SageMaker endpoints never register (the health checker lists them), so they get
        # neither the router URL nor an enrollment secret.
        assert "MOTHERFLUXER_ROUTER_URL" not in env
        assert "MOTHERFLUXER_ENROLLMENT_SECRET" not in env
        assert model["Properties"]["VpcConfig"]["Subnets"]


@pytest.mark.parametrize("stage", STAGES)
def test_ecs_service_reserves_a_gpu_on_gpu_hosts(synth: Synth, stage: str) -> None:
    tasks = synth.resources(stage, "Models", "AWS::ECS::TaskDefinition").values()
    assert tasks
    for task in tasks:
        container = task["Properties"]["ContainerDefinitions"][0]
        assert {"Type": "GPU", "Value": "1"} in container["ResourceRequirements"]
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert {"SERVED_MODEL_NAME", "MODEL_VERSION", "MODEL_ID"} <= set(env)
        assert env["MOTHERFLUXER_REGISTRATION_AUTH"] == "token"
        assert env["MOTHERFLUXER_ROUTER_URL"].startswith("https://api.")
        # The key itself is injected by the ECS agent, never written into the template.
        (secret,) = container["Secrets"]
        assert secret["Name"] == "MOTHERFLUXER_ENROLLMENT_KEY"
        assert "MOTHERFLUXER_ENROLLMENT_KEY" not in env
    templates = synth.resources(stage, "Models", "AWS::EC2::LaunchTemplate").values()
    types = {t["Properties"]["LaunchTemplateData"]["InstanceType"] for t in templates}
    assert types and all(re.match(r"^(g4dn|g5|g6|p\d)", t) for t in types)
    for t in templates:
        data = t["Properties"]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    synth.assertions(stage, "Models").resource_count_is("AWS::ECS::Service", len(list(tasks)))


@pytest.mark.parametrize("stage", STAGES)
def test_without_iam_registration_nobody_is_granted_execute_api(synth: Synth, stage: str) -> None:
    # The routes check enrollment keys in the router (AuthorizationType NONE), so an
    # execute-api grant would be a permission that authorizes nothing.
    assert synth.resources(stage, "Api", "AWS::IAM::ManagedPolicy") == {}
    for name in ("Api", "Models"):
        actions = [
            a for s in policy_statements(synth.template(stage, name)) for a in as_list(s["Action"])
        ]
        assert "execute-api:Invoke" not in actions
    # Only the ECS execution role reads the enrollment secret (to inject it); SageMaker and
    # task roles do not.
    for logical_id, role in synth.resources(stage, "Models", "AWS::IAM::Role").items():
        assert "TaskRole" not in logical_id or "ManagedPolicyArns" not in role["Properties"]
    readers = [
        s
        for s in policy_statements(synth.template(stage, "Models"))
        if "secretsmanager:GetSecretValue" in as_list(s["Action"])
    ]
    assert readers
    policies = synth.resources(stage, "Models", "AWS::IAM::Policy")
    for logical_id, policy in policies.items():
        text = json.dumps(policy["Properties"]["PolicyDocument"])
        if "secretsmanager:GetSecretValue" in text:
            assert "ExecutionRole" in logical_id, logical_id


# -- monitoring ----------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_dashboards_and_alarms_notify_the_topic(synth: Synth, stage: str) -> None:
    dashboards = synth.resources(stage, "Monitoring", "AWS::CloudWatch::Dashboard").values()
    assert len(dashboards) == 2
    body = json.dumps([d["Properties"]["DashboardBody"] for d in dashboards])
    for metric in (
        "Requests",
        "LatencyMs",
        "Fallbacks",
        "Retries",
        "CostUsd",
        "HealthyInstances",
        "ColdStart",
        "Throttles",
        # The platform dashboard is cdk-monitoring-constructs' (DynamoDB throttle events).
        "ReadThrottleEvents",
        "DatabaseConnections",
        "EngineCPUUtilization",
    ):
        assert metric in body, metric
    for stat in ("p50", "p99"):
        assert stat in body
    topic_id = next(iter(synth.resources(stage, "Monitoring", "AWS::SNS::Topic")))
    alarms = synth.resources(stage, "Monitoring", "AWS::CloudWatch::Alarm").values()
    assert len(alarms) >= 10
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    text = json.dumps(list(alarms))
    for metric in (
        "NoHealthyInstance",
        "BudgetUsage80",
        "LatencyMs",
        "Errors",
        "ThrottledRequests",
    ):
        assert metric in text, metric
    subscription = _only(synth.resources(stage, "Monitoring", "AWS::SNS::Subscription"))
    assert subscription["Properties"]["Protocol"] == "email"


# -- security across stacks ----------------------------------------------------------------


def test_no_iam_statement_uses_a_wildcard_action(synth: Synth) -> None:
    offenders = []
    for name, template in synth.templates.items():
        for statement in policy_statements(template):
            for action in as_list(statement.get("Action", [])):
                if action == "*" or action.endswith(":*") or "*" in action:
                    offenders.append((name, action))
    assert offenders == []


def test_cdk_nag_reports_no_unacknowledged_finding(synth: Synth) -> None:
    reports = synth.report["pluginReports"]
    assert [r["pluginName"] for r in reports] == ["AwsSolutions"]
    assert reports[0]["conclusion"] == "success"
    assert reports[0]["violations"] == []
    for suppressed in reports[0]["suppressedViolations"]:
        assert len(suppressed["reason"]) > 30, suppressed
