"""Self-hosted models: SageMaker endpoints and ECS GPU services, both running `containers/`.

Every container learns who it is from its environment (served model name, version, model id).
ECS tasks join the router's pool through the registration route, with the model's enrollment
key (injected by the ECS agent) or, where `registration_iam_auth` is on, SigV4 with the task
role; then they heartbeat. SageMaker endpoints do not register: the health checker lists them
from MOTHERFLUXER_SAGEMAKER_ENDPOINTS (health_checker/static.py), so their role gets no grant.
Each SageMaker version is an inference component that can scale to zero
(infra/sagemaker_components.py); the router calls it by name (MOTHERFLUXER_SAGEMAKER_COMPONENTS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from contracts import env
from infra import naming
from infra.acknowledge import ack
from infra.api_stack import ApiStack
from infra.config import ConfigError, EcsHosting, ModelConfig, SageMakerHosting, StageConfig, slug
from infra.data_stack import DataStack
from infra.ecs_models import ServicesAfterCapacityAssociations, gpu_capacity, model_service
from infra.iam_hygiene import ExpandWildcardActions
from infra.model_startup import EcsHealthTiming, image_start_seconds, sagemaker_startup_timeout
from infra.network_stack import NetworkStack
from infra.sagemaker_components import ComponentSpec, host_component

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
        self.start_seconds = image_start_seconds(containers_dir)
        self.image = ecr_assets.DockerImageAsset(
            self,
            "ModelImage",
            directory=str(containers_dir),
            platform=ecr_assets.Platform.LINUX_AMD64,
            exclude=IMAGE_EXCLUDES,
        )
        cdk.Aspects.of(self).add(ExpandWildcardActions())
        cdk.Aspects.of(self).add(ServicesAfterCapacityAssociations())
        self.endpoints: dict[str, sagemaker.CfnEndpoint] = {}
        self.components: dict[str, sagemaker.CfnInferenceComponent] = {}
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
            env.STAGE: self._config.name,
            env.CONTAINER_DEMO: "true" if self._config.demo.enabled else "false",
            env.CONTAINER_SERVED_MODEL_NAME: model.id,
            env.CONTAINER_MODEL_VERSION: version,
            env.CONTAINER_MODEL_ID: hosting.model_id,
        }

    def _registering_env(self) -> dict[str, str]:
        """What a container that registers itself (ECS) needs on top."""
        return {
            env.CONTAINER_ROUTER_URL: f"https://{self._config.domain_name}",
            # With IAM on the registration routes the container signs with its role instead.
            env.CONTAINER_REGISTRATION_AUTH: (
                "sigv4" if self._config.registration_iam_auth else "token"
            ),
        }

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
        endpoint_names = [
            naming.endpoint_name(self._config, model, v.version) for v in model.versions
        ]
        # Endpoint logs, and the inference components' own container logs.
        components = [naming.component_name(self._config, model, v.version) for v in model.versions]
        log_groups = [f"/aws/sagemaker/Endpoints/{name}" for name in endpoint_names] + [
            f"/aws/sagemaker/InferenceComponents/{name}" for name in components
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{group}:*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for group in log_groups
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
        for group in log_groups:
            ack(
                role,
                "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                f"log-group:{group}:*]",
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
                        env.CONTAINER_INSTANCE_KIND: "sagemaker",
                        env.CONTAINER_ENDPOINT_NAME: endpoint_name,
                    },
                ),
                vpc_config=sagemaker.CfnModel.VpcConfigProperty(
                    security_group_ids=[self._network.model_sg.security_group_id],
                    subnets=subnets,
                ),
                enable_network_isolation=False,
            )
            sm_model.node.add_dependency(role)
            hosted = host_component(
                self,
                ComponentSpec(
                    key=vkey,
                    model_id=model.id,
                    endpoint_name=endpoint_name,
                    component_name=naming.component_name(self._config, model, version),
                    model_name=sm_model.attr_model_name,
                    role_arn=role.role_arn,
                    security_group_ids=[self._network.model_sg.security_group_id],
                    subnet_ids=subnets,
                    startup_timeout_s=sagemaker_startup_timeout(self.start_seconds),
                ),
                hosting,
            )
            hosted.endpoint.node.add_dependency(role)
            self.endpoints[f"{model.id}@{version}"] = hosted.endpoint
            self.components[f"{model.id}@{version}"] = hosted.component

    # -- ECS ---------------------------------------------------------------------------------

    def _ecs_models(self, models: list[ModelConfig]) -> None:
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self._network.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.health_timing = EcsHealthTiming.covering(self.start_seconds)
        for model in models:
            hosting = model.hosting
            assert isinstance(hosting, EcsHosting)
            capacity = gpu_capacity(self, self._network, model, hosting)
            self.cluster.add_asg_capacity_provider(capacity)
            enrollment = ecs.Secret.from_secrets_manager(self._data.enrollment_secrets[model.id])
            for spec_version in model.versions:
                version = spec_version.version
                service = model_service(
                    self,
                    config=self._config,
                    network=self._network,
                    cluster=self.cluster,
                    capacity=capacity,
                    image=self.image,
                    model=model,
                    version=version,
                    container_env={
                        **self._container_env(model, version),
                        **self._registering_env(),
                    },
                    enrollment_key=enrollment,
                    timing=self.health_timing,
                )
                policy = self._api.registration_policy
                if policy is not None:
                    service.task_definition.task_role.add_managed_policy(policy)
                self.services[f"{model.id}@{version}"] = service
