"""The two front doors of the API, their custom domains, DNS and the registration routes.

* `domain_name` -> HTTP API -> router alias (Mangum). Cheapest and fastest, but API Gateway
  ends every HTTP API integration at 30 s, so a buffered answer must finish by then.
* `stream_host` -> REST API with `ResponseTransferMode.STREAM` -> the app under Lambda Web
  Adapter. Streams token by token, and also carries long *buffered* requests: the body is sent
  when it is complete, within the integration's 15 minutes and the 5-minute idle timeout of
  regional endpoints (docs/deploy.md, "Request time limits").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets

from infra import naming
from infra.access_logs import HttpAccessLogs, access_log_format
from infra.acknowledge import ack
from infra.common import retention
from infra.config import StageConfig

STREAM_STAGE = "live"


@dataclass
class Doors:
    http_api: apigwv2.HttpApi
    http_stage: apigwv2.HttpStage
    stream_api: apigw.RestApi
    # Attached to the ECS task roles when registration_iam_auth is on; otherwise None, and
    # nobody is granted execute-api:Invoke on routes that do not check IAM.
    registration_policy: iam.ManagedPolicy | None


def _log_group(stack: cdk.Stack, construct_id: str, config: StageConfig) -> logs.LogGroup:
    return logs.LogGroup(
        stack,
        construct_id,
        retention=retention(config.sizes.log_retention_days),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )


def build_doors(
    stack: cdk.Stack,
    config: StageConfig,
    router_alias: lambda_.Alias,
    stream_fn: lambda_.IFunction,
) -> Doors:
    zone = route53.HostedZone.from_hosted_zone_attributes(
        stack, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name
    )
    certificate = acm.Certificate(
        stack,
        "Certificate",
        domain_name=config.domain_name,
        subject_alternative_names=[config.stream_host],
        validation=acm.CertificateValidation.from_dns(zone),
    )
    integration = integrations.HttpLambdaIntegration("Router", router_alias)
    http_api, http_stage, http_domain = _http_api(stack, config, certificate, integration)
    policy = _registration(stack, config, http_api, integration)
    stream_api = _stream_api(stack, config, certificate, stream_fn)

    http_target = route53_targets.ApiGatewayv2DomainProperties(
        http_domain.regional_domain_name, http_domain.regional_hosted_zone_id
    )
    _alias_records(stack, zone, "HttpAlias", config.domain_name, http_target)
    assert stream_api.domain_name is not None
    stream_target = route53_targets.ApiGatewayDomain(stream_api.domain_name)
    _alias_records(stack, zone, "StreamAlias", config.stream_host, stream_target)
    cdk.CfnOutput(stack, "ApiUrl", value=f"https://{config.domain_name}/v1")
    cdk.CfnOutput(stack, "StreamApiUrl", value=f"https://{config.stream_host}/v1")
    return Doors(http_api, http_stage, stream_api, policy)


def _http_api(
    stack: cdk.Stack,
    config: StageConfig,
    certificate: acm.ICertificate,
    integration: integrations.HttpLambdaIntegration,
) -> tuple[apigwv2.HttpApi, apigwv2.HttpStage, apigwv2.DomainName]:
    sizes = config.sizes
    domain = apigwv2.DomainName(
        stack,
        "HttpDomain",
        domain_name=config.domain_name,
        certificate=certificate,
        security_policy=apigwv2.SecurityPolicy.TLS_1_2,
    )
    api = apigwv2.HttpApi(
        stack,
        "HttpApi",
        api_name=f"motherfluxer-{config.name}",
        description="MotherFluxer OpenAI-compatible API (buffered responses)",
        create_default_stage=False,
        # Only the custom domain answers, so TLS policy and DNS are ours.
        disable_execute_api_endpoint=True,
    )
    stage = apigwv2.HttpStage(
        stack,
        "HttpDefaultStage",
        http_api=api,
        stage_name="$default",
        auto_deploy=True,
        throttle=apigwv2.ThrottleSettings(
            rate_limit=sizes.api_rate_limit_rps, burst_limit=sizes.api_burst_limit
        ),
        access_log_settings=HttpAccessLogs(
            apigwv2.LogGroupLogDestination(_log_group(stack, "HttpApiAccessLogs", config)),
            access_log_format(),
        ),
        domain_mapping=apigwv2.DomainMappingOptions(domain_name=domain),
    )
    for path in ("/{proxy+}", "/"):
        api.add_routes(path=path, methods=[apigwv2.HttpMethod.ANY], integration=integration)
    return api, stage, domain


def _registration(
    stack: cdk.Stack,
    config: StageConfig,
    api: apigwv2.HttpApi,
    integration: integrations.HttpLambdaIntegration,
) -> iam.ManagedPolicy | None:
    """Explicit registration routes: IAM-authorized when configured, else the router checks
    the enrollment key / registration token itself and no IAM grant is made."""
    iam_auth = authorizers.HttpIamAuthorizer() if config.registration_iam_auth else None
    for path in (naming.REGISTER_PATH, naming.HEARTBEAT_PATH):
        api.add_routes(
            path=path,
            methods=[apigwv2.HttpMethod.POST],
            integration=integration,
            authorizer=iam_auth,
        )
    if not config.registration_iam_auth:
        return None
    arns = [
        api.arn_for_execute_api("POST", re.sub(r"\{[^}]+\}", "*", path), "$default")
        for path in (naming.REGISTER_PATH, naming.HEARTBEAT_PATH)
    ]
    policy = iam.ManagedPolicy(
        stack,
        "RegistrationPolicy",
        description="Lets ECS model tasks call the IAM-authorized registration routes",
        statements=[iam.PolicyStatement(actions=["execute-api:Invoke"], resources=arns)],
    )
    api_id = stack.resolve(api.api_id)["Ref"]
    ack(
        policy,
        "IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
        f"<{api_id}>/$default/POST/instances/*/heartbeat]",
        "The heartbeat path carries the instance id, which exists only after registration",
    )
    return policy


def _stream_api(
    stack: cdk.Stack,
    config: StageConfig,
    certificate: acm.ICertificate,
    stream_fn: lambda_.IFunction,
) -> apigw.RestApi:
    sizes = config.sizes
    api = apigw.RestApi(
        stack,
        "StreamApi",
        rest_api_name=f"motherfluxer-{config.name}-stream",
        description="MotherFluxer API with streamed responses (Lambda Web Adapter)",
        endpoint_types=[apigw.EndpointType.REGIONAL],
        disable_execute_api_endpoint=True,
        cloud_watch_role=True,
        cloud_watch_role_removal_policy=cdk.RemovalPolicy.RETAIN,
        deploy_options=apigw.StageOptions(
            stage_name=STREAM_STAGE,
            access_log_destination=apigw.LogGroupLogDestination(
                _log_group(stack, "StreamApiAccessLogs", config)
            ),
            access_log_format=access_log_format(),
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
    integration = apigw.LambdaIntegration(
        stream_fn,
        proxy=True,
        response_transfer_mode=apigw.ResponseTransferMode.STREAM,
        timeout=cdk.Duration.seconds(sizes.stream_timeout_seconds),
    )
    api.root.add_method("ANY", integration)
    api.root.add_proxy(default_integration=integration, any_method=True)
    return api


def _alias_records(
    stack: cdk.Stack,
    zone: route53.IHostedZone,
    construct_id: str,
    host: str,
    target: route53.IAliasRecordTarget,
) -> None:
    """A and AAAA alias records: API Gateway regional domains answer on both."""
    record_target = route53.RecordTarget.from_alias(target)
    route53.ARecord(stack, construct_id, zone=zone, record_name=host, target=record_target)
    route53.AaaaRecord(
        stack, f"{construct_id}Ipv6", zone=zone, record_name=host, target=record_target
    )
