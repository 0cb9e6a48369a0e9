"""The API: router Lambdas, API Gateway, WAF, custom domain, health checker and workers.

Two front doors share one certificate and hosted zone:

* `domain_name` -> HTTP API -> router Lambda (Mangum, SnapStart alias `live`). Cheapest and
  fastest; answers every route, streams arrive buffered as one SSE body.
* `stream_host` -> REST API with `ResponseTransferMode.STREAM` -> the same app under Lambda Web
  Adapter. Clients that want token-by-token streaming use this base URL. It is also the door
  that carries the WAF web ACL (WAF cannot attach to HTTP APIs); the HTTP API is protected by
  stage throttling and the router's own per-key rate limits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_wafv2 as wafv2
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra import nag, naming
from infra.common import retention
from infra.config import ExternalHosting, StageConfig
from infra.data_stack import DataStack
from infra.lambda_code import lambda_code
from infra.network_stack import NetworkStack

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCH = lambda_.Architecture.ARM_64
LWA_ACCOUNT = "753240598075"
POWERTOOLS_ACCOUNT = "017000801446"
STREAM_STAGE = "live"


# Regions a Bedrock cross-region inference profile may route to, by its id's prefix.
PROFILE_REGIONS = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"),
    "apac": ("ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2"),
}


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
        self._network = network
        sizes = config.sizes
        code = lambda_code(lambdas_dir)
        powertools: list[lambda_.ILayerVersion] = []
        if config.powertools_layer_version is not None:
            powertools.append(
                lambda_.LayerVersion.from_layer_version_arn(
                    self,
                    "Powertools",
                    f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:{POWERTOOLS_ACCOUNT}:layer:"
                    f"AWSLambdaPowertoolsPythonV3-python312-arm64:{config.powertools_layer_version}",
                )
            )
        web_adapter = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "WebAdapter",
            f"arn:{cdk.Aws.PARTITION}:lambda:{cdk.Aws.REGION}:{LWA_ACCOUNT}:layer:"
            f"LambdaAdapterLayerArm64:{config.lambda_web_adapter_layer_version}",
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
        external = {
            m.id: m.hosting for m in config.models if isinstance(m.hosting, ExternalHosting)
        }
        provider_secrets = {
            model_id: secretsmanager.Secret.from_secret_name_v2(
                self, f"ProviderKey{index}", hosting.api_key_secret_name
            )
            for index, (model_id, hosting) in enumerate(external.items())
            if hosting.api_key_secret_name
        }
        providers = {
            model_id: {
                "provider": hosting.provider,
                "base_url": hosting.base_url,
                "model": hosting.provider_model or model_id,
                "api_key_secret": provider_secrets[model_id].secret_arn
                if model_id in provider_secrets
                else None,
            }
            for model_id, hosting in external.items()
        }

        common_env = {
            "MOTHERFLUXER_STAGE": config.name,
            "MOTHERFLUXER_INSTANCES_TABLE": data.instances_table.table_name,
            "MOTHERFLUXER_CATALOG_PARAMETER": self.catalog_parameter.parameter_name,
            "MOTHERFLUXER_ADMIN_KEY_SECRET": data.admin_key_secret.secret_arn,
            "MOTHERFLUXER_SIGNING_SECRET": data.signing_secret.secret_arn,
            "MOTHERFLUXER_DATABASE_SECRET": data.database_secret.secret_arn,
            "MOTHERFLUXER_REDIS_HOST": data.cache.attr_primary_end_point_address,
            "MOTHERFLUXER_REDIS_PORT": data.cache.attr_primary_end_point_port,
            "MOTHERFLUXER_REDIS_AUTH_SECRET": data.cache_auth_secret.secret_arn,
            "MOTHERFLUXER_REDIS_TLS": "true",
            "MOTHERFLUXER_USAGE_QUEUE_URL": data.usage_queue.queue_url,
            "MOTHERFLUXER_SAGEMAKER_ENDPOINTS": json.dumps(
                naming.sagemaker_endpoints(config), sort_keys=True
            ),
            "MOTHERFLUXER_ENROLLMENT_SECRETS": self.to_json_string(
                {model_id: s.secret_arn for model_id, s in data.enrollment_secrets.items()}
            ),
            "MOTHERFLUXER_EXTERNAL_PROVIDERS": self.to_json_string(providers),
            "MOTHERFLUXER_REGISTRATION_IAM": "true" if config.registration_iam_auth else "false",
            "POWERTOOLS_METRICS_NAMESPACE": naming.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

        # Buffered router: Mangum, SnapStart on published versions, API targets the alias.
        self.router_fn = self._function(
            "Router",
            role_name="router",
            code=code,
            handler="router.handler.handler",
            memory=sizes.router_memory_mb,
            timeout=sizes.router_timeout_seconds,
            layers=powertools,
            environment={**common_env, "POWERTOOLS_SERVICE_NAME": naming.ROUTER_SERVICE},
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS,
        )
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
        self.stream_fn = self._function(
            "Streamer",
            role_name="stream",
            code=code,
            handler="run.sh",
            memory=sizes.stream_memory_mb,
            timeout=sizes.stream_timeout_seconds,
            layers=[web_adapter, *powertools],
            environment={
                **common_env,
                "POWERTOOLS_SERVICE_NAME": naming.ROUTER_SERVICE,
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_READINESS_CHECK_PATH": "/health",
                "PORT": "8000",
            },
        )

        self.health_fn = self._function(
            "HealthChecker",
            role_name="health-checker",
            code=code,
            handler="health_checker.handler.handler",
            memory=sizes.worker_memory_mb,
            timeout=50,
            layers=powertools,
            environment={**common_env, "POWERTOOLS_SERVICE_NAME": naming.HEALTH_CHECKER_SERVICE},
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

        self.drainer_fn = self._function(
            "UsageDrainer",
            role_name="usage-drainer",
            code=code,
            handler="accounts.usage_drainer.handler",
            memory=sizes.worker_memory_mb,
            timeout=120,
            layers=powertools,
            environment={
                "MOTHERFLUXER_STAGE": config.name,
                "MOTHERFLUXER_DATABASE_SECRET": data.database_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": naming.USAGE_DRAINER_SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": naming.METRICS_NAMESPACE,
            },
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

        self._migrations(config, data, code, powertools, lambdas_dir)
        self._grant_router_access(config, data, provider_secrets, external)
        self._front_doors(config)

    # -- functions -------------------------------------------------------------------------

    def _function(
        self,
        construct_id: str,
        *,
        role_name: str,
        code: lambda_.Code,
        handler: str,
        memory: int,
        timeout: int,
        layers: list[lambda_.ILayerVersion],
        environment: dict[str, str],
        snap_start: lambda_.SnapStartConf | None = None,
    ) -> lambda_.Function:
        name = naming.function_name(self._config, role_name)
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=retention(self._config.sizes.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        return lambda_.Function(
            self,
            construct_id,
            function_name=name,
            runtime=RUNTIME,
            architecture=ARCH,
            code=code,
            handler=handler,
            memory_size=memory,
            timeout=cdk.Duration.seconds(timeout),
            layers=layers,
            environment=environment,
            snap_start=snap_start,
            vpc=self._network.vpc,
            vpc_subnets=self._network.app_subnets,
            security_groups=[self._network.lambda_sg],
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )

    def _migrations(
        self,
        config: StageConfig,
        data: DataStack,
        code: lambda_.Code,
        powertools: list[lambda_.ILayerVersion],
        lambdas_dir: Path,
    ) -> None:
        self.migrations_fn = self._function(
            "Migrations",
            role_name="migrations",
            code=code,
            handler="accounts.migrations_handler.handler",
            memory=self._config.sizes.worker_memory_mb,
            timeout=300,
            layers=powertools,
            environment={
                "MOTHERFLUXER_STAGE": config.name,
                "MOTHERFLUXER_DATABASE_SECRET": data.database_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": naming.MIGRATIONS_SERVICE,
            },
        )
        data.database_secret.grant_read(self.migrations_fn)
        provider_logs = logs.LogGroup(
            self,
            "MigrationsProviderLogs",
            retention=retention(config.sizes.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        provider = cr.Provider(
            self,
            "MigrationsProvider",
            on_event_handler=self.migrations_fn,
            log_group=provider_logs,
        )
        accounts_dir = lambdas_dir / "accounts"
        # A new fingerprint (any change under lambdas/accounts) makes CloudFormation send an
        # Update, which runs pending migrations; unchanged code skips the call.
        fingerprint = (
            cdk.FileSystem.fingerprint(str(accounts_dir), exclude=["**/__pycache__"])
            if accounts_dir.exists()
            else "none"
        )
        self.migrations = cdk.CustomResource(
            self,
            "RunMigrations",
            service_token=provider.service_token,
            resource_type="Custom::MotherFluxerMigrations",
            properties={"Fingerprint": fingerprint, "Stage": config.name},
        )
        self.migrations.node.add_dependency(data.database)

    def _grant_router_access(
        self,
        config: StageConfig,
        data: DataStack,
        provider_secrets: dict[str, secretsmanager.ISecret],
        external: dict[str, ExternalHosting],
    ) -> None:
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
                *data.enrollment_secrets.values(),
                *provider_secrets.values(),
            ):
                secret.grant_read(fn)
            data.usage_queue.grant_send_messages(fn)

        endpoints = [
            name
            for versions in naming.sagemaker_endpoints(config).values()
            for name in versions.values()
        ]
        endpoint_arns = [
            self.format_arn(service="sagemaker", resource="endpoint", resource_name=name)
            for name in endpoints
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
        bedrock_models = [
            hosting.provider_model or model_id
            for model_id, hosting in external.items()
            if hosting.provider == "bedrock"
        ]
        if bedrock_models:
            resources = []
            for m in bedrock_models:
                geo, _, base = m.partition(".")
                if geo in PROFILE_REGIONS:
                    # A cross-region inference profile: the profile here, and the model it
                    # routes to in each region the profile may pick (no wildcard region).
                    resources.append(
                        f"arn:{cdk.Aws.PARTITION}:bedrock:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:"
                        f"inference-profile/{m}"
                    )
                    resources += [
                        f"arn:{cdk.Aws.PARTITION}:bedrock:{region}::foundation-model/{base}"
                        for region in PROFILE_REGIONS[geo]
                    ]
                else:
                    resources.append(
                        f"arn:{cdk.Aws.PARTITION}:bedrock:{cdk.Aws.REGION}::foundation-model/{m}"
                    )
            # Converse needs InvokeModel, ConverseStream InvokeModelWithResponseStream.
            statement = iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"],
                resources=resources,
            )
            for fn in routers:
                fn.add_to_role_policy(statement)

    # -- API Gateway, domain, WAF -----------------------------------------------------------

    def _front_doors(self, config: StageConfig) -> None:
        sizes = config.sizes
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self,
            "Zone",
            hosted_zone_id=config.hosted_zone_id,
            zone_name=config.hosted_zone_name,
        )
        certificate = acm.Certificate(
            self,
            "Certificate",
            domain_name=config.domain_name,
            subject_alternative_names=[config.stream_host],
            validation=acm.CertificateValidation.from_dns(zone),
        )

        # HTTP API: buffered routes.
        http_domain = apigwv2.DomainName(
            self,
            "HttpDomain",
            domain_name=config.domain_name,
            certificate=certificate,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )
        router_integration = integrations.HttpLambdaIntegration("Router", self.router_alias)
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=f"motherfluxer-{config.name}",
            description="MotherFluxer OpenAI-compatible API (buffered responses)",
            create_default_stage=False,
            # Only the custom domain answers, so TLS policy and DNS are ours.
            disable_execute_api_endpoint=True,
        )
        http_logs = logs.LogGroup(
            self,
            "HttpApiAccessLogs",
            retention=retention(sizes.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.http_stage = apigwv2.HttpStage(
            self,
            "HttpDefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=sizes.api_rate_limit_rps, burst_limit=sizes.api_burst_limit
            ),
            access_log_settings=_HttpAccessLogs(
                apigwv2.LogGroupLogDestination(http_logs), _access_log_format()
            ),
            domain_mapping=apigwv2.DomainMappingOptions(domain_name=http_domain),
        )
        self.http_api.add_routes(
            path="/{proxy+}", methods=[apigwv2.HttpMethod.ANY], integration=router_integration
        )
        self.http_api.add_routes(
            path="/", methods=[apigwv2.HttpMethod.ANY], integration=router_integration
        )
        # Registration routes are explicit so they can carry IAM authorization when enabled;
        # otherwise the router checks the enrollment key and instance credentials itself.
        iam_auth = authorizers.HttpIamAuthorizer() if config.registration_iam_auth else None
        for path in (naming.REGISTER_PATH, naming.HEARTBEAT_PATH):
            self.http_api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod.POST],
                integration=router_integration,
                authorizer=iam_auth,
            )
        # Model roles (models stack) attach this policy; keeping it here means the API id is a
        # local reference, so the heartbeat ARN's instance-id wildcard can be acknowledged.
        registration_arns = [
            self.http_api.arn_for_execute_api("POST", re.sub(r"\{[^}]+\}", "*", path), "$default")
            for path in (naming.REGISTER_PATH, naming.HEARTBEAT_PATH)
        ]
        self.registration_policy = iam.ManagedPolicy(
            self,
            "RegistrationPolicy",
            description="Lets model containers call the registration and heartbeat routes",
            statements=[
                iam.PolicyStatement(actions=["execute-api:Invoke"], resources=registration_arns)
            ],
        )
        api_id = self.resolve(self.http_api.api_id)["Ref"]
        nag.ack(
            self.registration_policy,
            "IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
            f"<{api_id}>/$default/POST/instances/*/heartbeat]",
            "The heartbeat path carries the instance id, which exists only after registration",
        )

        # REST API: the streamed door.
        rest_logs = logs.LogGroup(
            self,
            "StreamApiAccessLogs",
            retention=retention(sizes.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.stream_api = apigw.RestApi(
            self,
            "StreamApi",
            rest_api_name=f"motherfluxer-{config.name}-stream",
            description="MotherFluxer API with streamed responses (Lambda Web Adapter)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            disable_execute_api_endpoint=True,
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STREAM_STAGE,
                access_log_destination=apigw.LogGroupLogDestination(rest_logs),
                access_log_format=_access_log_format(),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=sizes.api_rate_limit_rps,
                throttling_burst_limit=sizes.api_burst_limit,
            ),
            domain_name=apigw.DomainNameOptions(
                domain_name=config.stream_host,
                certificate=certificate,
                endpoint_type=apigw.EndpointType.REGIONAL,
                security_policy=apigw.SecurityPolicy.TLS_1_2,
            ),
        )
        stream_integration = apigw.LambdaIntegration(
            self.stream_fn,
            proxy=True,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
            timeout=cdk.Duration.seconds(sizes.stream_timeout_seconds),
        )
        self.stream_api.root.add_method("ANY", stream_integration)
        self.stream_api.root.add_proxy(default_integration=stream_integration, any_method=True)

        self._waf(config)

        http_target = route53_targets.ApiGatewayv2DomainProperties(
            http_domain.regional_domain_name, http_domain.regional_hosted_zone_id
        )
        self._alias_records(zone, "HttpAlias", config.domain_name, http_target)
        assert self.stream_api.domain_name is not None
        stream_target = route53_targets.ApiGatewayDomain(self.stream_api.domain_name)
        self._alias_records(zone, "StreamAlias", config.stream_host, stream_target)
        cdk.CfnOutput(self, "ApiUrl", value=f"https://{config.domain_name}/v1")
        cdk.CfnOutput(self, "StreamApiUrl", value=f"https://{config.stream_host}/v1")

    def _alias_records(
        self,
        zone: route53.IHostedZone,
        construct_id: str,
        host: str,
        target: route53.IAliasRecordTarget,
    ) -> None:
        """A and AAAA alias records: API Gateway regional domains answer on both."""
        record_target = route53.RecordTarget.from_alias(target)
        route53.ARecord(self, construct_id, zone=zone, record_name=host, target=record_target)
        route53.AaaaRecord(
            self, f"{construct_id}Ipv6", zone=zone, record_name=host, target=record_target
        )

    def _waf(self, config: StageConfig) -> None:
        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"motherfluxer-{config.name}-{name}",
                sampled_requests_enabled=True,
            )

        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("acl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-per-ip",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=config.sizes.waf_requests_per_5min,
                            aggregate_key_type="IP",
                            evaluation_window_sec=300,
                        )
                    ),
                    visibility_config=visibility("rate-per-ip"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-common",
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS",
                            name="AWSManagedRulesCommonRuleSet",
                            # Prompts are routinely larger than the rule set's 8 KB body limit.
                            rule_action_overrides=[
                                wafv2.CfnWebACL.RuleActionOverrideProperty(
                                    name="SizeRestrictions_BODY",
                                    action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
                                )
                            ],
                        )
                    ),
                    visibility_config=visibility("aws-common"),
                ),
                wafv2.CfnWebACL.RuleProperty(
                    name="aws-known-bad-inputs",
                    priority=2,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name="AWSManagedRulesKnownBadInputsRuleSet"
                        )
                    ),
                    visibility_config=visibility("aws-known-bad-inputs"),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclStream",
            resource_arn=self.stream_api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )


@jsii.implements(apigwv2.IAccessLogSettings)
class _HttpAccessLogs:
    """HTTP API stage access-log settings (an interface in jsii, so a small class here)."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def _access_log_format() -> apigw.AccessLogFormat:
    return apigw.AccessLogFormat.custom(
        json.dumps(
            {
                "requestId": "$context.requestId",
                "ip": "$context.identity.sourceIp",
                "requestTime": "$context.requestTime",
                "method": "$context.httpMethod",
                "path": "$context.path",
                "status": "$context.status",
                "protocol": "$context.protocol",
                "responseLength": "$context.responseLength",
                "integrationLatency": "$context.integrationLatency",
                "integrationError": "$context.integrationErrorMessage",
            }
        )
    )
