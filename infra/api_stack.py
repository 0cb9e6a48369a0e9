"""The API: router Lambdas, API Gateway, WAF, custom domain, health checker and workers.

Two front doors share one certificate and hosted zone (infra/front_doors.py): the HTTP API
for buffered requests up to 30 s, and the REST API in stream mode, which also carries long
buffered requests. The stream door carries the WAF web ACL where the stage enables it (WAF
cannot attach to HTTP APIs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from contracts import env
from contracts import metrics as contract
from infra import naming
from infra.api_environment import (
    Providers,
    request_deadline,
    router_environment,
    worker_environment,
)
from infra.api_functions import FunctionFactory, migrations_resource
from infra.bedrock_access import bedrock_resource_arns
from infra.config import StageConfig
from infra.data_stack import DataStack
from infra.front_doors import build_doors
from infra.lambda_code import lambda_code
from infra.layers import powertools_layers, web_adapter_layer
from infra.network_stack import NetworkStack
from infra.waf import web_acl


class ApiStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        network: NetworkStack,
        data: DataStack,
        lambdas_dir: Path,
        **kwargs: Any,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        sizes = config.sizes
        factory = FunctionFactory(
            self, config, network, lambda_code(lambdas_dir), powertools_layers(self, config)
        )
        self.catalog_parameter = ssm.StringParameter(
            self,
            "Catalog",
            parameter_name=naming.catalog_parameter_name(config),
            description=f"MotherFluxer {config.name} model catalog (routing metadata)",
            string_value=config.catalog_json(),
            # Catalogs with a few dozen models outgrow the 4 KB standard tier.
            tier=ssm.ParameterTier.ADVANCED,
        )
        self.providers = Providers.of(self, config)
        common = router_environment(self, config, data, self.catalog_parameter, self.providers)
        router_service = {env.POWERTOOLS_SERVICE_NAME: contract.ROUTER_SERVICE}

        # Buffered router: Mangum, SnapStart on published versions, API targets the alias.
        self.router_fn = factory.function(
            "Router",
            role_name="router",
            handler="router.handler.handler",
            memory=sizes.router_memory_mb,
            timeout=sizes.router_timeout_seconds,
            environment={
                **common,
                **router_service,
                env.REQUEST_TIMEOUT_S: request_deadline(sizes.router_timeout_seconds),
            },
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.snap_start else None,
        )
        if config.snap_start:
            # The alias below publishes a version on every code change, which SnapStart needs.
            cdk.Validations.of(self.router_fn).acknowledge(
                cdk.Acknowledgment(
                    id="Annotation::@aws-cdk/aws-lambda:snapStartRequirePublish",
                    reason="current_version is published and the live alias targets it",
                )
            )
        self.router_alias = lambda_.Alias(
            self, "RouterLive", alias_name="live", version=self.router_fn.current_version
        )

        # Streaming router: the same app under Lambda Web Adapter in response-stream mode.
        self.stream_fn = factory.function(
            "Streamer",
            role_name="stream",
            handler="run.sh",
            memory=sizes.stream_memory_mb,
            timeout=sizes.stream_timeout_seconds,
            extra_layers=[web_adapter_layer(self, config)],
            environment={
                **common,
                **router_service,
                env.REQUEST_TIMEOUT_S: request_deadline(sizes.stream_timeout_seconds),
                env.LWA_EXEC_WRAPPER: "/opt/bootstrap",
                env.LWA_INVOKE_MODE: "response_stream",
                # Liveness, not readiness: /health/ready waits for every model, and a model
                # scaled to zero would keep the adapter (and so every cold start) waiting.
                env.LWA_READINESS_CHECK_PATH: env.LIVENESS_PATH,
                env.LWA_PORT: "8000",
            },
        )

        self.health_fn = factory.function(
            "HealthChecker",
            role_name="health-checker",
            handler="health_checker.handler.handler",
            memory=sizes.worker_memory_mb,
            timeout=50,
            environment={
                **common,
                env.POWERTOOLS_SERVICE_NAME: contract.HEALTH_CHECKER_SERVICE,
            },
        )
        self.health_schedule = events.Rule(
            self,
            "HealthSchedule",
            description="Probe every model instance and refresh the instances table",
            schedule=events.Schedule.rate(cdk.Duration.minutes(sizes.health_check_minutes)),
            targets=[
                targets.LambdaFunction(
                    self.health_fn,
                    retry_attempts=0,
                    # A late probe is worse than a skipped one: the next tick comes soon.
                    max_event_age=cdk.Duration.minutes(2),
                )
            ],
        )

        self.drainer_fn = factory.function(
            "UsageDrainer",
            role_name="usage-drainer",
            handler="accounts.usage_drainer.handler",
            memory=sizes.worker_memory_mb,
            timeout=120,
            environment=worker_environment(config, data, contract.USAGE_DRAINER_SERVICE),
        )
        self.drainer_fn.add_event_source(
            event_sources.SqsEventSource(
                data.usage_queue,
                batch_size=50,
                max_batching_window=cdk.Duration.seconds(5),
                report_batch_item_failures=True,
            )
        )
        data.database_secret.grant_read(self.drainer_fn)

        self.migrations_fn = factory.function(
            "Migrations",
            role_name="migrations",
            handler="accounts.migrations_handler.handler",
            memory=sizes.worker_memory_mb,
            timeout=300,
            environment=worker_environment(config, data, contract.MIGRATIONS_SERVICE),
        )
        data.database_secret.grant_read(self.migrations_fn)
        self.migrations = migrations_resource(self, config, self.migrations_fn, lambdas_dir)
        self.migrations.node.add_dependency(data.database)

        self._grant_router_access(config, data)

        doors = build_doors(self, config, self.router_alias, self.stream_fn)
        self.http_api = doors.http_api
        self.http_stage = doors.http_stage
        self.stream_api = doors.stream_api
        self.registration_policy = doors.registration_policy
        self.web_acl = (
            web_acl(self, config, self.stream_api.deployment_stage.stage_arn)
            if config.waf
            else None
        )

    @property
    def functions(self) -> tuple[lambda_.Function, ...]:
        return (
            self.router_fn,
            self.stream_fn,
            self.health_fn,
            self.drainer_fn,
            self.migrations_fn,
        )

    def _grant_router_access(self, config: StageConfig, data: DataStack) -> None:
        routers = (self.router_fn, self.stream_fn)
        for fn in (*routers, self.health_fn):
            data.instances_table.grant_read_write_data(fn)
            self.catalog_parameter.grant_read(fn)
            data.signing_secret.grant_read(fn)
        for fn in routers:
            for secret in (
                data.admin_key_secret,
                data.database_secret,
                data.cache_auth_secret,
                # The router checks enrollment keys against these (router/services.py).
                *data.enrollment_secrets.values(),
                *self.providers.secrets.values(),
            ):
                secret.grant_read(fn)
            data.usage_queue.grant_send_messages(fn)

        endpoint_arns = [
            self.format_arn(service="sagemaker", resource="endpoint", resource_name=name)
            for versions in naming.sagemaker_endpoints(config).values()
            for name in versions.values()
        ]
        if endpoint_arns:
            invoke = iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
                resources=endpoint_arns,
            )
            for fn in routers:
                fn.add_to_role_policy(invoke)
            self.health_fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"],
                    resources=endpoint_arns,
                )
            )
            # A component with no copy is a sleeping model (health_checker/probe.py).
            self.health_fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:DescribeInferenceComponent"],
                    resources=[
                        self.format_arn(
                            service="sagemaker", resource="inference-component", resource_name=c
                        )
                        for c in sorted(
                            s["component"] for s in naming.sagemaker_components(config).values()
                        )
                    ],
                )
            )
        bedrock = self.providers.bedrock_models()
        if bedrock:
            statement = iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                # Converse needs InvokeModel, ConverseStream InvokeModelWithResponseStream.
                resources=bedrock_resource_arns(bedrock),
            )
            for fn in routers:
                fn.add_to_role_policy(statement)
