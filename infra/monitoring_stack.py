"""Dashboards and alarms over the router's EMF metrics and the AWS services it runs on.

Custom metrics are queried through the metric contract (`infra/metric_queries.py`); see
`tests/infra/test_metric_contract.py`, which checks every query against documents the
emitters really print.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from contracts import metrics as contract
from infra import dashboards
from infra.api_stack import ApiStack
from infra.config import StageConfig
from infra.data_stack import DataStack
from infra.metric_queries import ALARM_PERIOD, combined, contract_metric, key, per_version
from infra.platform_dashboard import platform_dashboard

# The DynamoDB calls the registry makes; ThrottledRequests is filed per TableName+Operation.
TABLE_OPERATIONS = (
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.QUERY,
)


class MonitoringStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataStack,
        api: ApiStack,
        **kwargs: Any,
    ):
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        self.topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"MotherFluxer {config.name} alarms",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cw.Alarm] = []

        functions: dict[str, lambda_.IFunction] = {
            "router": api.router_fn,
            "stream": api.stream_fn,
            "health-checker": api.health_fn,
            "usage-drainer": api.drainer_fn,
            "migrations": api.migrations_fn,
        }
        cold_start = {
            label: functions[label].function_name
            for label in ("router", "stream", "health-checker")
        }

        self.overview = cw.Dashboard(
            self,
            "Overview",
            dashboard_name=f"MotherFluxer-{config.name}-overview",
            default_interval=cdk.Duration.hours(3),
        )
        self.overview.add_widgets(
            cw.TextWidget(
                markdown=f"# MotherFluxer {config.name}\nOne row per model with a line per "
                "version: requests, errors, latency, overhead, fallbacks, retries, tokens, "
                "cost and healthy instances. AWS services are on the platform dashboard.",
                width=24,
                height=2,
            )
        )
        for model in config.models:
            self.overview.add_widgets(*dashboards.model_row(model))
        self.overview.add_widgets(*dashboards.router_row(list(config.models), cold_start))
        self.platform = platform_dashboard(self, config, data, api, functions)

        self._model_alarms(config)
        self._platform_alarms(config, functions, data, api)

    # -- data widgets ------------------------------------------------------------------------

    def _table_throttles(self, data: DataStack, period: cdk.Duration) -> cw.IMetric:
        return data.instances_table.metric_throttled_requests_for_operations(
            operations=list(TABLE_OPERATIONS),
            period=period,
            label="throttled requests",
        )

    # -- alarms ------------------------------------------------------------------------------

    def _alarm(
        self,
        construct_id: str,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods: int = 3,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=min(2, evaluation_periods),
            comparison_operator=comparison,
            # No traffic is not a failure; the metric queries match the emitted series
            # (tests/infra/test_metric_contract.py), so real failures do arrive as data.
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm

    def _model_alarms(self, config: StageConfig) -> None:
        limits = config.alarms
        for model in config.models:
            mkey = key(model.id)
            versions = [(model.id, v.version) for v in model.versions]
            requests = per_version(contract.REQUESTS, versions, period=ALARM_PERIOD)
            errors = per_version(contract.ERRORS, versions, period=ALARM_PERIOD)
            reqs = {f"r{i}": m for i, m in enumerate(requests)}
            errs = {f"e{i}": m for i, m in enumerate(errors)}
            error_rate = cw.MathExpression(
                expression=f"100 * ({' + '.join(errs)}) / MAX([1, {' + '.join(reqs)}])",
                using_metrics={**reqs, **errs},
                period=ALARM_PERIOD,
                label=f"{model.id} error rate %",
            )
            self._alarm(
                f"ErrorRate-{mkey}",
                error_rate,
                limits.error_rate_percent,
                f"{model.id}: more than {limits.error_rate_percent}% of requests failed",
            )
            for m, v in versions:
                self._alarm(
                    f"LatencyP99-{mkey}-{v}",
                    contract_metric(
                        contract.LATENCY_MS, "p99", period=ALARM_PERIOD, model=m, version=v
                    ),
                    limits.latency_p99_ms,
                    f"{m} {v}: p99 latency above {limits.latency_p99_ms} ms",
                )
            self._alarm(
                f"OverheadP99-{mkey}",
                combined(
                    "MAX([{ids}])",
                    per_version(contract.OVERHEAD_MS, versions, "p99", ALARM_PERIOD),
                    f"{model.id} router overhead p99 (worst version)",
                ),
                limits.overhead_p99_ms,
                f"{model.id}: router selection overhead p99 above {limits.overhead_p99_ms} ms",
            )
            if model.scales_to_zero:
                # Zero healthy instances is this model's normal idle state; the router answers
                # from its fallback while it wakes.
                continue
            self._alarm(
                f"NoHealthyInstance-{mkey}",
                contract_metric(contract.NO_HEALTHY_INSTANCE, "Maximum", model=model.id),
                0,
                f"{model.id}: the health checker found no healthy instance",
                evaluation_periods=2,
            )
        self._alarm(
            "Budget80",
            combined(
                "SUM([{ids}])",
                [
                    contract_metric(contract.BUDGET_USAGE_80, period=ALARM_PERIOD, model=m.id)
                    for m in config.models
                ],
                "budget alerts (80%)",
            ),
            0,
            "A key or user passed 80% of its budget",
            evaluation_periods=1,
        )

    def _platform_alarms(
        self,
        config: StageConfig,
        functions: dict[str, lambda_.IFunction],
        data: DataStack,
        api: ApiStack,
    ) -> None:
        for name, fn in functions.items():
            self._alarm(
                f"Throttles-{name}",
                fn.metric_throttles(period=ALARM_PERIOD),
                0,
                f"Lambda {name} is throttled",
            )
            self._alarm(
                f"Errors-{name}",
                fn.metric_errors(period=ALARM_PERIOD),
                5,
                f"Lambda {name} raised errors",
            )
        self._alarm(
            "UsageDlq",
            data.usage_dlq.metric_approximate_number_of_messages_visible(period=ALARM_PERIOD),
            0,
            "Usage records failed to reach the ledger (dead-letter queue not empty)",
            evaluation_periods=1,
        )
        self._alarm(
            "DatabaseCpu",
            data.database.metric_cpu_utilization(period=ALARM_PERIOD),
            80,
            "PostgreSQL CPU above 80%",
        )
        self._alarm(
            "DatabaseStorage",
            data.database.metric_free_storage_space(period=ALARM_PERIOD),
            2 * 1024**3,
            "PostgreSQL has less than 2 GiB free",
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        )
        self._alarm(
            "CacheMemory",
            cw.Metric(
                namespace="AWS/ElastiCache",
                metric_name="DatabaseMemoryUsagePercentage",
                dimensions_map={"CacheClusterId": f"{data.cache_replication_group_id}-001"},
                statistic="Maximum",
                period=ALARM_PERIOD,
            ),
            85,
            "Valkey memory above 85%",
        )
        self._alarm(
            "DynamoThrottles",
            self._table_throttles(data, ALARM_PERIOD),
            0,
            "Instances table requests throttled",
        )
        self._alarm(
            "Http5xx",
            cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name="5xx",
                dimensions_map={"ApiId": api.http_api.api_id},
                statistic="Sum",
                period=ALARM_PERIOD,
            ),
            10,
            "HTTP API returned more than 10 5xx responses in 5 minutes",
        )
