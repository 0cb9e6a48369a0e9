"""Network: the VPC, its endpoints, flow logs and the security groups every other stack joins."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.common import retention
from infra.config import StageConfig

# Services the Lambdas and model hosts call on every request or health probe; keeping them on
# private endpoints avoids NAT gateway data charges and keeps credentials traffic off the
# internet.
INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
}
# Only where a model is hosted on SageMaker.
SAGEMAKER_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
}


def interface_endpoints(config: StageConfig) -> dict[str, ec2.InterfaceVpcEndpointAwsService]:
    if not config.sizes.interface_endpoints:
        return {}
    wanted = dict(INTERFACE_ENDPOINTS)
    if config.hosted_by("sagemaker"):
        wanted.update(SAGEMAKER_ENDPOINTS)
    return wanted


def nat_provider(config: StageConfig) -> ec2.NatProvider | None:
    """A NAT instance for stages that idle cheaply; None keeps CDK's NAT gateways."""
    if config.sizes.nat_kind != "instance":
        return None
    return ec2.NatProvider.instance_v2(
        instance_type=ec2.InstanceType(config.sizes.nat_instance_type),
        machine_image=ec2.MachineImage.latest_amazon_linux2023(
            cpu_type=ec2.AmazonLinuxCpuType.ARM_64
        ),
        default_allowed_traffic=ec2.NatTrafficDirection.OUTBOUND_ONLY,
    )


MODEL_PORT = 8080
VPC_CIDR = "10.40.0.0/16"


class NetworkStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        sizes = config.sizes
        self.nat_instance = nat_provider(config)

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(VPC_CIDR),
            max_azs=sizes.max_azs,
            nat_gateways=sizes.nat_gateways,
            nat_gateway_provider=self.nat_instance,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            restrict_default_security_group=True,
        )
        if self.nat_instance is not None:
            # The instance forwards what the private subnets send; nothing else reaches it.
            self.nat_instance.connections.allow_from(
                ec2.Peer.ipv4(VPC_CIDR), ec2.Port.all_traffic(), "NAT for the VPC"
            )

        flow_log_group = logs.LogGroup(
            self,
            "FlowLogs",
            retention=retention(sizes.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        self.vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB)
        # ECR image layers are served from S3.
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)

        self.endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSg",
            vpc=self.vpc,
            description="Interface endpoints: HTTPS from inside the VPC",
            allow_all_outbound=False,
        )
        self.endpoint_sg.add_ingress_rule(
            ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), "HTTPS from the VPC"
        )
        app_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        for name, service in interface_endpoints(config).items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=app_subnets,
                security_groups=[self.endpoint_sg],
                private_dns_enabled=True,
                # The group above already admits HTTPS from the VPC range.
                open=False,
            )

        # Lambdas (router, streamer, health checker, workers) share one group so the data and
        # model groups can admit exactly them.
        self.lambda_sg = ec2.SecurityGroup(
            self,
            "LambdaSg",
            vpc=self.vpc,
            description="MotherFluxer Lambda functions",
            allow_all_outbound=True,
        )
        self.model_sg = ec2.SecurityGroup(
            self,
            "ModelSg",
            vpc=self.vpc,
            description="Model containers (SageMaker, ECS): port 8080 from the Lambdas only",
            allow_all_outbound=True,
        )
        self.model_sg.add_ingress_rule(
            self.lambda_sg, ec2.Port.tcp(MODEL_PORT), "router and health checker to models"
        )
        self.app_subnets = app_subnets
        self.data_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
