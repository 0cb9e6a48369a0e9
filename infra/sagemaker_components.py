"""One model version on SageMaker as an inference component that can scale to zero.

A classic endpoint keeps at least one instance; only an endpoint that hosts inference
components may drop to none. So each version gets:

- an endpoint config with an execution role, managed instance scaling (min instances = the
  model's `min`, 0 to sleep) and least-outstanding-requests routing, and no model on the
  variant;
- an endpoint on it, and one `AWS::SageMaker::InferenceComponent` that places the model
  there with its per-copy compute reservation;
- Application Auto Scaling on the component's `DesiredCopyCount` (min = `min`): target
  tracking on concurrent requests per copy (high-resolution) scales in, to zero when idle;
- the wake path AWS documents: a step policy (+1 copy) driven by an alarm on
  `NoCapacityInvocationFailures`, the metric a request to a component with no copy emits,
  or on the router's `WakeRequests` for the model once the health checker has taken the
  sleeping component out of rotation. Managed instance scaling then adds the instance the
  new copy needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
import jsii
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from contracts import metrics as contract
from infra.config import SageMakerHosting
from infra.metric_queries import contract_metric

VARIANT = "AllTraffic"
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
WAKE_METRIC = "NoCapacityInvocationFailures"
CONCURRENCY_METRIC = "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
# A copy that just woke must not be put back to sleep before it has served anything.
SCALE_IN_COOLDOWN = cdk.Duration.minutes(15)
SCALE_OUT_COOLDOWN = cdk.Duration.minutes(1)


@dataclass(frozen=True)
class ComponentSpec:
    """What one version's component needs from the stack around it."""

    key: str  # construct-id fragment, unique per model version
    model_id: str
    endpoint_name: str
    component_name: str
    model_name: str  # the CfnModel's name (a token)
    role_arn: str
    security_group_ids: list[str]
    subnet_ids: list[str]
    startup_timeout_s: int


@dataclass(frozen=True)
class HostedComponent:
    endpoint: sagemaker.CfnEndpoint
    component: sagemaker.CfnInferenceComponent
    target: appscaling.ScalableTarget
    wake_alarm: cloudwatch.Alarm


@jsii.implements(cloudwatch.IAlarmAction)
class _ScalingPolicyAction:
    """Alarm action that runs an Application Auto Scaling policy given by its ARN."""

    def __init__(self, policy_arn: str) -> None:
        self._arn = policy_arn

    def bind(self, scope: Construct, alarm: cloudwatch.IAlarm) -> cloudwatch.AlarmActionConfig:
        return cloudwatch.AlarmActionConfig(alarm_action_arn=self._arn)


def host_component(
    scope: Construct, spec: ComponentSpec, hosting: SageMakerHosting
) -> HostedComponent:
    config = sagemaker.CfnEndpointConfig(
        scope,
        f"EndpointConfig-{spec.key}",
        execution_role_arn=spec.role_arn,
        vpc_config=sagemaker.CfnEndpointConfig.VpcConfigProperty(
            security_group_ids=spec.security_group_ids, subnets=spec.subnet_ids
        ),
        production_variants=[
            sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                variant_name=VARIANT,
                instance_type=hosting.instance_type,
                initial_instance_count=hosting.initial_instance_count,
                managed_instance_scaling=sagemaker.CfnEndpointConfig.ManagedInstanceScalingProperty(
                    status="ENABLED",
                    min_instance_count=hosting.min,
                    max_instance_count=hosting.max,
                ),
                routing_config=sagemaker.CfnEndpointConfig.RoutingConfigProperty(
                    routing_strategy="LEAST_OUTSTANDING_REQUESTS"
                ),
            )
        ],
    )
    endpoint = sagemaker.CfnEndpoint(
        scope,
        f"Endpoint-{spec.key}",
        endpoint_name=spec.endpoint_name,
        endpoint_config_name=config.attr_endpoint_config_name,
    )
    component = sagemaker.CfnInferenceComponent(
        scope,
        f"Component-{spec.key}",
        inference_component_name=spec.component_name,
        endpoint_name=endpoint.attr_endpoint_name,
        variant_name=VARIANT,
        specification=sagemaker.CfnInferenceComponent.InferenceComponentSpecificationProperty(
            model_name=spec.model_name,
            compute_resource_requirements=sagemaker.CfnInferenceComponent.InferenceComponentComputeResourceRequirementsProperty(
                number_of_accelerator_devices_required=hosting.copy_accelerators or None,
                number_of_cpu_cores_required=hosting.copy_cpu_cores,
                min_memory_required_in_mb=hosting.copy_memory_mb,
            ),
            startup_parameters=sagemaker.CfnInferenceComponent.InferenceComponentStartupParametersProperty(
                container_startup_health_check_timeout_in_seconds=spec.startup_timeout_s,
                model_data_download_timeout_in_seconds=900,
            ),
        ),
        # One copy at create: CloudFormation waits for it to be in service, which proves the
        # model loads; target tracking then takes the copies down to `min` when unused.
        runtime_config=sagemaker.CfnInferenceComponent.InferenceComponentRuntimeConfigProperty(
            copy_count=max(1, hosting.min)
        ),
    )

    target = appscaling.ScalableTarget(
        scope,
        f"Scaling-{spec.key}",
        service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
        resource_id=f"inference-component/{spec.component_name}",
        scalable_dimension=COPY_DIMENSION,
        min_capacity=hosting.min,
        max_capacity=hosting.max,
    )
    target.node.add_dependency(component)
    target.scale_to_track_metric(
        "ConcurrentRequestsPerCopy",
        target_value=hosting.concurrent_requests_per_copy,
        predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION,
        scale_in_cooldown=SCALE_IN_COOLDOWN,
        scale_out_cooldown=SCALE_OUT_COOLDOWN,
    )
    wake = appscaling.CfnScalingPolicy(
        scope,
        f"Wake-{spec.key}",
        policy_name=f"{spec.component_name}-wake",
        policy_type="StepScaling",
        scaling_target_id=target.scalable_target_id,
        step_scaling_policy_configuration=appscaling.CfnScalingPolicy.StepScalingPolicyConfigurationProperty(
            adjustment_type="ChangeInCapacity",
            metric_aggregation_type="Maximum",
            cooldown=SCALE_OUT_COOLDOWN.to_seconds(),
            step_adjustments=[
                appscaling.CfnScalingPolicy.StepAdjustmentProperty(
                    metric_interval_lower_bound=0, scaling_adjustment=1
                )
            ],
        ),
    )
    minute = cdk.Duration.minutes(1)
    alarm = cloudwatch.Alarm(
        scope,
        f"WakeAlarm-{spec.key}",
        alarm_description=(
            f"{spec.component_name}: a request found no copy; add one (scale from zero)"
        ),
        # SageMaker counts the calls that found no copy; once the health checker has put the
        # component out of rotation the router stops calling it and counts WakeRequests for
        # the model instead (router/wake.py). Either wakes it.
        metric=cloudwatch.MathExpression(
            expression="MAX([FILL(nocapacity, 0), FILL(wakes, 0)])",
            using_metrics={
                "nocapacity": cloudwatch.Metric(
                    namespace="AWS/SageMaker",
                    metric_name=WAKE_METRIC,
                    dimensions_map={"InferenceComponentName": spec.component_name},
                    statistic="Maximum",
                    period=minute,
                ),
                "wakes": contract_metric(
                    contract.WAKE_REQUESTS, "Maximum", period=minute, model=spec.model_id
                ),
            },
            period=minute,
            label=f"{spec.component_name} requests that found no copy",
        ),
        threshold=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=1,
        datapoints_to_alarm=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(_ScalingPolicyAction(wake.attr_arn))
    return HostedComponent(endpoint=endpoint, component=component, target=target, wake_alarm=alarm)
