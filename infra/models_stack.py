"""Self-hosted models: SageMaker endpoints and ECS GPU services, both running `containers/`.

Every container learns who it is from its environment (served model name, version, model id)
and joins the router's pool by calling the IAM-authorized registration route with its role's
credentials plus the model's enrollment secret, then heartbeats on the same path family.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from infra import nag, naming
from infra.api_stack import ApiStack
from infra.common import retention
from infra.config import ConfigError, EcsHosting, ModelConfig, SageMakerHosting, StageConfig, slug
from infra.data_stack import DataStack
from infra.iam_hygiene import ExpandWildcardActions
from infra.network_stack import MODEL_PORT, NetworkStack

IMAGE_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "tests",
    ".venv",
    "**/*.safetensors",
    "**/*.bin",
]


def require_dockerfile(containers_dir: Path) -> None:
    if not (containers_dir / "Dockerfile").is_file():
        raise ConfigError(
            f"containers: {containers_dir / 'Dockerfile'} is missing; the model image for "
            "SageMaker/ECS hosting is built from it (remove self-hosted models or add it)"
        )


class ModelsStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        network: NetworkStack,
        data: DataStack,
        api: ApiStack,
        containers_dir: Path,
        **kwargs: Any,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        self._network = network
        self._data = data
        self._api = api
        require_dockerfile(containers_dir)
        self.image = ecr_assets.DockerImageAsset(
            self,
            "ModelImage",
            directory=str(containers_dir),
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=IMAGE_EXCLUDES,
        )
        cdk.Aspects.of(self).add(ExpandWildcardActions())
        self.endpoints: dict[str, sagemaker.CfnEndpoint] = {}
        self.services: dict[str, ecs.Ec2Service] = {}
        for model in config.hosted_by("sagemaker"):
            self._sagemaker_model(model)
        ecs_models = config.hosted_by("ecs")
        if ecs_models:
            self._ecs_models(ecs_models)

    def _container_env(self, model: ModelConfig, version: str) -> dict[str, str]:
        hosting = model.hosting
        assert isinstance(hosting, SageMakerHosting | EcsHosting)
        return {
            "MOTHERFLUXER_ROUTER_URL": f"https://{self._config.domain_name}",
            "MOTHERFLUXER_STAGE": self._config.name,
            "MOTHERFLUXER_ENROLLMENT_SECRET": self._data.enrollment_secrets[model.id].secret_arn,
            "MOTHERFLUXER_DEMO": "true" if self._config.demo.enabled else "false",
            "SERVED_MODEL_NAME": model.id,
            "MODEL_VERSION": version,
            "MODEL_ID": hosting.model_id,
            # With IAM on the registration routes the container signs with its role instead.
            "MOTHERFLUXER_REGISTRATION_AUTH": (
                "sigv4" if self._config.registration_iam_auth else "token"
            ),
        }

    def _allow_registration(self, role: iam.IRole, model: ModelConfig) -> None:
        role.add_managed_policy(self._api.registration_policy)
        self._data.enrollment_secrets[model.id].grant_read(role)

    # -- SageMaker ---------------------------------------------------------------------------

    def _sagemaker_model(self, model: ModelConfig) -> None:
        hosting = model.hosting
        assert isinstance(hosting, SageMakerHosting)
        key = slug(model.id)
        role = iam.Role(
            self,
            f"SageMakerRole-{key}",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker execution role for {model.id}",
        )
        self.image.repository.grant_pull(role)
        self._allow_registration(role, model)
        endpoint_names = [
            naming.endpoint_name(self._config, model, v.version) for v in model.versions
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"/aws/sagemaker/Endpoints/{name}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for name in endpoint_names
                ],
            )
        )
        # Models in a VPC need these to attach their network interfaces; EC2 offers no
        # resource-level scoping for the Describe calls.
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:CreateNetworkInterfacePermission",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DeleteNetworkInterfacePermission",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcs",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                ],
                resources=["*"],
            )
        )
        for name in endpoint_names:
            nag.ack(
                role,
                "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                f"log-group:/aws/sagemaker/Endpoints/{name}:*]",
                "Log streams are created per instance inside the endpoint's own log group",
            )
        subnets = self._network.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnet_ids
        for spec_version, endpoint_name in zip(model.versions, endpoint_names, strict=True):
            version = spec_version.version
            vkey = f"{key}-{slug(version)}"
            sm_model = sagemaker.CfnModel(
                self,
                f"Model-{vkey}",
                execution_role_arn=role.role_arn,
                primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                    image=self.image.image_uri,
                    mode="SingleModel",
                    environment={
                        **self._container_env(model, version),
                        "MOTHERFLUXER_INSTANCE_KIND": "sagemaker",
                        "MOTHERFLUXER_ENDPOINT_NAME": endpoint_name,
                    },
                ),
                vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                    security_group_ids=[self._network.model_sg.security_group_id],
                    subnets=subnets,
                ),
                enable_network_isolation=False,
            )
            sm_model.node.add_dependency(role)
            endpoint_config = sagemaker.CfnEndpointConfig(
                self,
                f"EndpointConfig-{vkey}",
                production_variants=[
                    sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                        variant_name="AllTraffic",
                        model_name=sm_model.attr_model_name,
                        instance_type=hosting.instance_type,
                        initial_instance_count=hosting.initial_instance_count,
                        initial_variant_weight=1.0,
                        container_startup_health_check_timeout_in_seconds=900,
                        model_data_download_timeout_in_seconds=900,
                    )
                ],
            )
            endpoint = sagemaker.CfnEndpoint(
                self,
                f"Endpoint-{vkey}",
                endpoint_name=endpoint_name,
                endpoint_config_name=endpoint_config.attr_endpoint_config_name,
            )
            self.endpoints[f"{model.id}@{version}"] = endpoint

            target = appscaling.ScalableTarget(
                self,
                f"Scaling-{vkey}",
                service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
                resource_id=f"endpoint/{endpoint_name}/variant/AllTraffic",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=hosting.min,
                max_capacity=hosting.max,
            )
            target.node.add_dependency(endpoint)
            target.scale_to_track_metric(
                "InvocationsPerInstance",
                target_value=hosting.invocations_per_instance,
                predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
                scale_in_cooldown=cdk.Duration.minutes(10),
                scale_out_cooldown=cdk.Duration.minutes(2),
            )

    # -- ECS ---------------------------------------------------------------------------------

    def _ecs_models(self, models: list[ModelConfig]) -> None:
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self._network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        for model in models:
            hosting = model.hosting
            assert isinstance(hosting, EcsHosting)
            key = slug(model.id)
            asg = autoscaling.AutoScalingGroup(
                self,
                f"GpuHosts-{key}",
                vpc=self._network.vpc,
                vpc_subnets=self._network.app_subnets,
                launch_template=ec2.LaunchTemplate(
                    self,
                    f"GpuTemplate-{key}",
                    instance_type=ec2.InstanceType(hosting.instance_type),
                    machine_image=ecs.EcsOptimizedImage.amazon_linux2(ecs.AmiHardwareType.GPU),
                    require_imdsv2=True,
                    role=iam.Role(
                        self,
                        f"GpuHostRole-{key}",
                        assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
                    ),
                    security_group=self._network.model_sg,
                    user_data=ec2.UserData.for_linux(),
                    block_devices=[
                        ec2.BlockDevice(
                            device_name="/dev/xvda",
                            volume=ec2.BlockDeviceVolume.ebs(
                                100, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3
                            ),
                        )
                    ],
                    detailed_monitoring=True,
                ),
                min_capacity=0,
                max_capacity=hosting.max_instances,
            )
            capacity = ecs.AsgCapacityProvider(
                self,
                f"Capacity-{key}",
                auto_scaling_group=asg,
                enable_managed_termination_protection=False,
                # ECS drains tasks itself, so no lifecycle-hook Lambda and topic are needed.
                enable_managed_draining=True,
                target_capacity_percent=100,
            )
            self.cluster.add_asg_capacity_provider(capacity)

            for spec_version in model.versions:
                version = spec_version.version
                vkey = f"{key}-{slug(version)}"
                task_logs = logs.LogGroup(
                    self,
                    f"TaskLogs-{vkey}",
                    retention=retention(self._config.sizes.log_retention_days),
                    removal_policy=cdk.RemovalPolicy.DESTROY,
                )
                task = ecs.Ec2TaskDefinition(
                    self,
                    f"Task-{vkey}",
                    network_mode=ecs.NetworkMode.AWS_VPC,
                )
                task.add_container(
                    "model",
                    image=ecs.ContainerImage.from_docker_image_asset(self.image),
                    memory_reservation_mib=hosting.memory_reservation_mib,
                    gpu_count=hosting.gpu_count,
                    port_mappings=[ecs.PortMapping(container_port=MODEL_PORT)],
                    environment={
                        **self._container_env(model, version),
                        "MOTHERFLUXER_INSTANCE_KIND": "openai",
                    },
                    command=["serve"],
                    # The ECS agent reads the key at start-up; it never appears in the template.
                    secrets={
                        "MOTHERFLUXER_ENROLLMENT_KEY": ecs.Secret.from_secrets_manager(
                            self._data.enrollment_secrets[model.id]
                        )
                    },
                    logging=ecs.LogDrivers.aws_logs(stream_prefix=vkey, log_group=task_logs),
                    health_check=ecs.HealthCheck(
                        command=["CMD-SHELL", f"curl -fs http://localhost:{MODEL_PORT}/ping"],
                        interval=cdk.Duration.seconds(30),
                        start_period=cdk.Duration.minutes(5),
                        retries=3,
                    ),
                )
                self._allow_registration(task.task_role, model)
                service = ecs.Ec2Service(
                    self,
                    f"Service-{vkey}",
                    cluster=self.cluster,
                    task_definition=task,
                    desired_count=hosting.desired_count,
                    vpc_subnets=self._network.app_subnets,
                    security_groups=[self._network.model_sg],
                    capacity_provider_strategies=[
                        ecs.CapacityProviderStrategy(
                            capacity_provider=capacity.capacity_provider_name, weight=1
                        )
                    ],
                    circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
                    # One GPU per task: replace in place rather than needing a spare host.
                    min_healthy_percent=0,
                    max_healthy_percent=100,
                )
                self.services[f"{model.id}@{version}"] = service
