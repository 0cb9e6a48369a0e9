"""The platform dashboard, built with cdk-monitoring-constructs: its stock widgets for the AWS
services the router runs on (DynamoDB, RDS, ElastiCache, SQS with DLQ, Lambda, both API
Gateway doors). The model dashboards and every custom-metric query stay on the metric
contract (infra/dashboards.py); the alarms stay in monitoring_stack.py with their SNS action.
"""

from __future__ import annotations

import aws_cdk as cdk
import cdk_monitoring_constructs as cmc
from aws_cdk import aws_lambda as lambda_

from infra.api_stack import ApiStack
from infra.config import StageConfig
from infra.data_stack import DataStack


def platform_dashboard(
    stack: cdk.Stack,
    config: StageConfig,
    data: DataStack,
    api: ApiStack,
    functions: dict[str, lambda_.IFunction],
) -> cmc.MonitoringFacade:
    facade = cmc.MonitoringFacade(
        stack,
        "PlatformMonitoring",
        dashboard_factory=cmc.DefaultDashboardFactory(
            stack,
            "PlatformDashboards",
            dashboard_name_prefix=f"MotherFluxer-{config.name}-platform",
            # One detail dashboard; summary and alarm dashboards would be $3 a month each.
            create_dashboard=True,
            create_summary_dashboard=False,
            create_alarm_dashboard=False,
            detail_dashboard_range=cdk.Duration.hours(3),
        ),
    )
    facade.monitor_dynamo_table(table=data.instances_table, human_readable_name="instances table")
    facade.monitor_rds_instance(instance=data.database, human_readable_name="PostgreSQL")
    facade.monitor_elasti_cache_cluster(
        cluster_id=f"{data.cache_replication_group_id}-001",
        cluster_type=cmc.ElastiCacheClusterType.REDIS,
        human_readable_name="Valkey",
    )
    facade.monitor_sqs_queue_with_dlq(
        queue=data.usage_queue,
        dead_letter_queue=data.usage_dlq,
        human_readable_name="usage queue",
    )
    for name, fn in functions.items():
        facade.monitor_lambda_function(lambda_function=fn, human_readable_name=f"Lambda {name}")
    facade.monitor_api_gateway_v2_http_api(api=api.http_api, human_readable_name="HTTP API")
    facade.monitor_api_gateway(
        api=api.stream_api,
        api_stage=api.stream_api.deployment_stage.stage_name,
        human_readable_name="stream REST API",
    )
    return facade
