"""cdk-nag acknowledgements, each with the reason a reviewer needs to accept it.

cdk-nag 3 acknowledges one finding id at a time (`AwsSolutions::AwsSolutions-IAM5[Resource::*]`)
on a construct and everything under it; ids are listed where the finding arises.
"""

from __future__ import annotations

from constructs import IConstruct

from infra.acknowledge import APIGW_LOGS, LAMBDA_BASIC, LAMBDA_VPC, ack
from infra.config import StageConfig
from infra.stage_stacks import StageStacks

# CDK's singleton function that sets log-group retention (RDS log exports).
LOG_RETENTION = "LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a"


def acknowledge_stage(stacks: StageStacks, config: StageConfig) -> None:
    _network(stacks)
    _data(stacks, config)
    _api(stacks)
    if stacks.models is not None:
        _models(stacks)


def _network(stacks: StageStacks) -> None:
    # Flow logs on, default security group restricted, endpoints admit HTTPS from the VPC
    # CIDR only. The NAT instance (stages with nat_kind "instance") is acknowledged below;
    # the Vpc construct holds no other EC2 instance.
    network = stacks.network
    if network.nat_instance is None:
        return
    ack(
        network.vpc,
        "EC26",
        "NAT instance root volume holds only the stock AL2023 image and iptables rules, no "
        "data; NatProvider.instance_v2 offers no block-device settings",
    )
    ack(
        network.vpc,
        "EC28",
        "NAT instance of an idle-cost stage: basic 5-minute monitoring is enough, detailed "
        "monitoring would cost more than the instance",
    )
    ack(
        network.vpc,
        "EC29",
        "NAT instance is stateless and replaced by the next deploy; termination protection "
        "would only block that",
    )


def _data(stacks: StageStacks, config: StageConfig) -> None:
    data = stacks.data
    if not config.multi_az:
        ack(
            data.database,
            "RDS3",
            "dev stage is single-AZ by design to keep idle cost low; prod sets multi_az=true",
        )
        ack(
            data.database,
            "RDS10",
            "dev databases are disposable; prod enables deletion "
            "protection (deletion_protection follows multi_az)",
        )
        ack(
            data.cache,
            "AEC4",
            "dev runs one cache node to keep idle cost low; prod runs a "
            "replica with automatic failover across AZs",
        )
    ack(
        data.database,
        "RDS11",
        "A non-standard port adds no protection here: the database "
        "is in isolated subnets and its security group admits only the Lambda group",
    )
    ack(
        data.cache_auth_secret,
        "SMG4",
        "Rotating the Valkey AUTH token needs a coordinated "
        "ModifyReplicationGroup (ROTATE strategy) run; done as an operator runbook, not a "
        "Lambda with cluster-modify rights",
    )
    ack(
        data.admin_key_secret,
        "SMG4",
        "Bootstrap admin key, used once to create real keys "
        "through the admin API; operators rotate it by writing a new value",
    )
    ack(
        data.signing_secret,
        "SMG4",
        "HMAC key for stored key hashes; rotating it would "
        "invalidate every issued API key, so it is rotated deliberately, not on a timer",
    )
    for secret in data.enrollment_secrets.values():
        ack(
            secret,
            "SMG4",
            "Enrollment secret is only exchanged once for short-lived "
            "registration tokens; rotate by writing a new value and restarting containers",
        )
    # The RDS log-export retention is set by CDK's LogRetention singleton function.
    log_retention = _child(data, LOG_RETENTION, "ServiceRole")
    ack(
        log_retention,
        f"IAM4[{LAMBDA_BASIC}]",
        "CDK LogRetention helper: AWS-managed basic execution "
        "policy only grants writing its own logs",
    )
    ack(
        log_retention,
        "IAM5[Resource::*]",
        "CDK LogRetention helper sets retention on log groups "
        "whose names are only known after the DB instance exists",
    )


def _api(stacks: StageStacks) -> None:
    api = stacks.api
    if api.web_acl is None:
        ack(
            api.stream_api.deployment_stage,
            "APIG3",
            "Stage runs without the web ACL to idle cheaply (waf: false); stage throttling and "
            "the router's per-key and per-IP rate limits still apply; prod keeps WAF",
        )
    # IAM4/IAM5 are acknowledged on each role, never on a whole stack, so a new role with a
    # managed policy or a wildcard fails synth until someone looks at it.
    for fn in api.functions:
        assert fn.role is not None
        ack(
            fn.role,
            f"IAM4[{LAMBDA_BASIC}]",
            "AWS-managed policy limited to creating log streams and writing the function's "
            "own logs",
        )
        ack(
            fn.role,
            f"IAM4[{LAMBDA_VPC}]",
            "AWS-managed policy for the ENI calls a VPC function "
            "needs; EC2 offers no resource scoping for them",
        )
    ack(
        _child(api.stream_api, "CloudWatchRole"),
        f"IAM4[{APIGW_LOGS}]",
        "The account-level API Gateway logging role needs exactly "
        "this AWS-managed policy to write access and execution logs",
    )
    for fn in api.functions:
        ack(
            fn,
            "L1",
            "Python 3.12 on purpose: dependencies are built for cp312 and the "
            "Powertools layer is the python312 build; the runtime moves with them",
        )
    ack(api.migrations, "L1", "CDK provider framework function; its runtime is chosen by CDK")
    provider_role = _child(api, "MigrationsProvider", "framework-onEvent", "ServiceRole")
    ack(
        provider_role,
        f"IAM4[{LAMBDA_BASIC}]",
        "CDK provider framework function: the AWS-managed policy only writes its own logs",
    )
    ack(
        provider_role,
        "IAM5[Resource::<Migrations23B444C5.Arn>:*]",
        "The CDK provider framework invokes any published version of the migrations function",
    )
    ack(
        api.stream_api,
        "APIG2",
        "Proxy integration: the FastAPI app validates every body "
        "with pydantic and returns OpenAI-style 400 errors",
    )
    ack(
        api.stream_api,
        "APIG4",
        "Clients authenticate with MotherFluxer API keys (Bearer), "
        "checked by the router against hashed keys in PostgreSQL",
    )
    ack(
        api.stream_api,
        "COG4",
        "Users are API-key holders, not Cognito users; keys are "
        "issued and revoked through the admin API",
    )
    ack(
        api.http_api,
        "APIG4",
        "The router authenticates every route itself: API keys (Bearer, hashed in PostgreSQL) "
        "on public routes, the model's enrollment key or a signed registration token on the "
        "registration routes (IAM authorization there only when registration_iam_auth is on)",
    )


def _models(stacks: StageStacks) -> None:
    models = stacks.models
    assert models is not None
    ack(
        models,
        "ECS2",
        "Environment holds only non-secret settings (model id, version, router URL); the "
        "enrollment key is injected by the ECS agent from Secrets Manager (task secrets)",
    )
    ack(
        models,
        "AS3",
        "Capacity is scaled by the ECS capacity provider; scaling problems "
        "surface as NoHealthyInstance alarms in the monitoring stack",
    )
    for role in _children(models, "GpuHostRole-"):
        ack(
            role,
            "IAM5[Resource::*]",
            "ECS container-instance policy from CDK: the agent's RegisterContainerInstance, "
            "Poll and telemetry calls and ecr:GetAuthorizationToken have no resource scoping",
        )
        ack(
            role,
            "IAM5[Action::ecs:Submit*]",
            "Remediated by override: CDK's ECS instance policy says ecs:Submit*; "
            "iam_hygiene.ExpandWildcardActions rewrites it to the three explicit Submit "
            "actions in the template, which cdk-nag does not see",
        )
    for role in _children(models, "SageMakerRole-"):
        ack(
            role,
            "IAM5[Resource::*]",
            "SageMaker models in a VPC attach ENIs: the ec2 Describe*/ENI calls and "
            "ecr:GetAuthorizationToken offer no resource-level scoping",
        )
    for task in _children(models, "Task-"):
        ack(
            _child(task, "ExecutionRole"),
            "IAM5[Resource::*]",
            "ECS task execution role: ecr:GetAuthorizationToken has no resource-level scoping "
            "(image pulls and the enrollment secret are scoped to their ARNs)",
        )


def _child(scope: IConstruct, *path: str) -> IConstruct:
    node = scope
    for name in path:
        node = node.node.find_child(name)
    return node


def _children(scope: IConstruct, prefix: str) -> list[IConstruct]:
    found = [c for c in scope.node.children if c.node.id.startswith(prefix)]
    assert found or prefix == "SageMakerRole-", prefix
    return found
