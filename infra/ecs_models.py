"""Self-hosted models on ECS GPU capacity that can sleep: no task and no host while unused.

Each model gets an Auto Scaling group (minimum 0) behind its own capacity provider, and each
version an ECS service whose desired count autoscaling moves between `min_count` (0 lets it
sleep) and `max_instances`:

* wake: the router counts `WakeRequests` for a model that has no routable instance (it
  answers those requests from the fallback, or 503 with Retry-After); one count adds a task,
  and the capacity provider then adds the GPU host the task needs;
* sleep: `idle_minutes` without a single request for the version sets the count back to 0,
  and the capacity provider removes the idle host.
"""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import IConstruct

from contracts import env
from contracts import metrics as contract
from infra.common import retention
from infra.config import EcsHosting, ModelConfig, StageConfig, slug
from infra.metric_queries import contract_metric
from infra.model_startup import EcsHealthTiming
from infra.network_stack import MODEL_PORT, NetworkStack


def gpu_capacity(
    stack: cdk.Stack, network: NetworkStack, model: ModelConfig, hosting: EcsHosting
) -> ecs.AsgCapacityProvider:
    key = slug(model.id)
    asg = autoscaling.AutoScalingGroup(
        stack,
        f"GpuHosts-{key}",
        vpc=network.vpc,
        vpc_subnets=network.app_subnets,
        launch_template=ec2.LaunchTemplate(
            stack,
            f"GpuTemplate-{key}",
            instance_type=ec2.InstanceType(hosting.instance_type),
            machine_image=ecs.EcsOptimizedImage.amazon_linux2023(ecs.AmiHardwareType.GPU),
            require_imdsv2=True,
            role=iam.Role(
                stack, f"GpuHostRole-{key}", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com")
            ),
            security_group=network.model_sg,
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
        # No host while no task needs one: the capacity provider scales this from 0.
        min_capacity=0,
        max_capacity=hosting.max_instances,
    )
    return ecs.AsgCapacityProvider(
        stack,
        f"Capacity-{key}",
        auto_scaling_group=asg,
        enable_managed_termination_protection=False,
        # ECS drains tasks itself, so no lifecycle-hook Lambda and topic are needed.
        enable_managed_draining=True,
        target_capacity_percent=100,
    )


def model_service(
    stack: cdk.Stack,
    *,
    config: StageConfig,
    network: NetworkStack,
    cluster: ecs.Cluster,
    capacity: ecs.AsgCapacityProvider,
    image: ecr_assets.DockerImageAsset,
    model: ModelConfig,
    version: str,
    container_env: dict[str, str],
    enrollment_key: ecs.Secret,
    timing: EcsHealthTiming,
) -> ecs.Ec2Service:
    hosting = model.hosting
    assert isinstance(hosting, EcsHosting)
    vkey = f"{slug(model.id)}-{slug(version)}"
    task_logs = logs.LogGroup(
        stack,
        f"TaskLogs-{vkey}",
        retention=retention(config.sizes.log_retention_days),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    task = ecs.Ec2TaskDefinition(stack, f"Task-{vkey}", network_mode=ecs.NetworkMode.AWS_VPC)
    task.add_container(
        "model",
        image=ecs.ContainerImage.from_docker_image_asset(image),
        memory_reservation_mib=hosting.memory_reservation_mib,
        gpu_count=hosting.gpu_count,
        port_mappings=[ecs.PortMapping(container_port=MODEL_PORT)],
        environment={**container_env, env.CONTAINER_INSTANCE_KIND: "openai"},
        command=["serve"],
        # The ECS agent reads the key at start-up; it never appears in the template.
        secrets={env.CONTAINER_ENROLLMENT_KEY: enrollment_key},
        logging=ecs.LogDrivers.aws_logs(stream_prefix=vkey, log_group=task_logs),
        health_check=ecs.HealthCheck(
            command=["CMD-SHELL", f"curl -fs http://localhost:{MODEL_PORT}/ping"],
            interval=cdk.Duration.seconds(timing.interval_s),
            start_period=cdk.Duration.seconds(timing.start_period_s),
            retries=timing.retries,
        ),
    )
    service = ecs.Ec2Service(
        stack,
        f"Service-{vkey}",
        cluster=cluster,
        task_definition=task,
        desired_count=hosting.desired_count,
        vpc_subnets=network.app_subnets,
        security_groups=[network.model_sg],
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
    _sleep_and_wake(stack, service, model, hosting, version, vkey)
    return service


@jsii.implements(cdk.IAspect)
class ServicesAfterCapacityAssociations:
    """CreateService fails with "capacity provider not associated" when it runs before the
    cluster's ClusterCapacityProviderAssociations. CDK creates that resource late (in an
    aspect of the cluster) and does not order services after it, so this aspect does."""

    def visit(self, node: IConstruct) -> None:
        if not (cdk.CfnResource.is_cfn_resource(node) and node.cfn_resource_type == SERVICE):
            return
        for other in cdk.Stack.of(node).node.find_all():
            if cdk.CfnResource.is_cfn_resource(other) and other.cfn_resource_type == ASSOCIATIONS:
                node.add_resource_dependency(other)


SERVICE = "AWS::ECS::Service"
ASSOCIATIONS = "AWS::ECS::ClusterCapacityProviderAssociations"


def _sleep_and_wake(
    stack: cdk.Stack,
    service: ecs.Ec2Service,
    model: ModelConfig,
    hosting: EcsHosting,
    version: str,
    vkey: str,
) -> None:
    scaling = service.auto_scale_task_count(
        min_capacity=hosting.min_count, max_capacity=hosting.max_instances
    )
    if hosting.min_count > 0:
        return
    wake = contract_metric(contract.WAKE_REQUESTS, period=cdk.Duration.minutes(1), model=model.id)
    scaling.scale_on_metric(
        "Wake",
        metric=wake,
        scaling_steps=[
            appscaling.ScalingInterval(upper=1, change=0),
            appscaling.ScalingInterval(lower=1, change=1),
        ],
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        # A GPU host and the model load take minutes; one more task per wait, not per minute.
        cooldown=cdk.Duration.minutes(5),
    )
    idle = cdk.Duration.minutes(hosting.idle_minutes)
    requests = cw.MathExpression(
        # No data means no request: FILL turns the idle gaps into zeros the alarm can see.
        expression="FILL(requests, 0)",
        using_metrics={
            "requests": contract_metric(
                contract.REQUESTS, period=idle, model=model.id, version=version
            )
        },
        period=idle,
        label=f"{model.id} {version} requests per {hosting.idle_minutes} min",
    )
    scaling.scale_on_metric(
        "Sleep",
        metric=requests,
        scaling_steps=[
            appscaling.ScalingInterval(upper=0, change=-hosting.max_instances),
            appscaling.ScalingInterval(lower=1, change=0),
        ],
        adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        cooldown=idle,
    )
