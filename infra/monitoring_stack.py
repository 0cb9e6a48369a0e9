"""Dashboards and alarms over the router's EMF metrics and the AWS services it runs on."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import naming
from infra.api_stack import ApiStack
from infra.config import StageConfig
from infra.data_stack import DataStack

NS = naming.METRICS_NAMESPACE
PERIOD = cdk.Duration.minutes(1)
ALARM_PERIOD = cdk.Duration.minutes(5)
WIDTH = 12


def _metric(name: str, dims: dict[str, str], stat: str = "Sum", label: str | None = None):
    return cw.Metric(
        namespace=NS,
        metric_name=name,
        dimensions_map=dims,
        statistic=stat,
        period=PERIOD,
        label=label,
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

        versions = [(m.id, v.version) for m in config.models for v in m.versions]
        functions = {
            "router": api.router_fn,
            "stream": api.stream_fn,
            "health-checker": api.health_fn,
            "usage-drainer": api.drainer_fn,
            "migrations": api.migrations_fn,
        }

        self.overview = cw.Dashboard(
            self,
            "Overview",
            dashboard_name=f"MotherFluxer-{config.name}-overview",
            default_interval=cdk.Duration.hours(3),
        )
        self.overview.add_widgets(
            cw.TextWidget(
                markdown=f"# MotherFluxer {config.name}\nRequests, latency and errors per model "
                "version; instance health; cost; platform health below.",
                width=24,
                height=2,
            )
        )
        self.overview.add_widgets(*self._traffic_widgets(versions))
        self.overview.add_widgets(*self._health_widgets(config))
        self.overview.add_widgets(*self._cost_widgets(versions))
        self.overview.add_widgets(*self._lambda_widgets(functions))
        self.overview.add_widgets(*self._api_widgets(api))

        self.platform = cw.Dashboard(
            self,
            "Platform",
            dashboard_name=f"MotherFluxer-{config.name}-platform",
            default_interval=cdk.Duration.hours(3),
        )
        self.platform.add_widgets(*self._data_widgets(data))

        self._alarms(config, versions, functions, data, api)

    # -- widgets -----------------------------------------------------------------------------

    def _traffic_widgets(self, versions: list[tuple[str, str]]) -> list[cw.IWidget]:
        def per_version(name: str, stat: str = "Sum") -> list[cw.IMetric]:
            return [
                _metric(name, {"model": m, "version": v}, stat, f"{m} {v}") for m, v in versions
            ]

        latency = [
            cw.GraphWidget(
                title=f"Latency {p} (ms)",
                left=per_version("LatencyMs", p),
                width=8,
            )
            for p in ("p50", "p90", "p99")
        ]
        return [
            cw.GraphWidget(
                title="Requests per model version",
                left=per_version("Requests"),
                width=WIDTH,
                stacked=True,
            ),
            cw.GraphWidget(
                title="Errors per model version",
                left=per_version("Errors"),
                right=per_version("Errors5xx"),
                width=WIDTH,
            ),
            *latency,
            cw.GraphWidget(
                title="Fallbacks and retries",
                left=per_version("Fallbacks"),
                right=per_version("Retries"),
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="Router overhead p99 (ms), rate limited, budget rejected",
                left=per_version("OverheadMs", "p99"),
                right=[
                    _metric("RateLimited", {"service": naming.ROUTER_SERVICE}),
                    _metric("BudgetRejected", {"service": naming.ROUTER_SERVICE}),
                    _metric("CacheHits", {"service": naming.ROUTER_SERVICE}),
                ],
                width=WIDTH,
            ),
        ]

    def _health_widgets(self, config: StageConfig) -> list[cw.IWidget]:
        models = [m.id for m in config.models]
        return [
            cw.GraphWidget(
                title="Healthy instances per model",
                left=[_metric("HealthyInstances", {"model": m}, "Minimum", m) for m in models],
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="Unhealthy instances / no healthy instance",
                left=[_metric("UnhealthyInstances", {"model": m}, "Maximum", m) for m in models],
                right=[_metric("NoHealthyInstance", {"model": m}, "Maximum", m) for m in models],
                width=WIDTH,
            ),
        ]

    def _cost_widgets(self, versions: list[tuple[str, str]]) -> list[cw.IWidget]:
        return [
            cw.GraphWidget(
                title="Cost per model version (USD)",
                left=[
                    _metric("CostUsd", {"model": m, "version": v}, "Sum", f"{m} {v}")
                    for m, v in versions
                ],
                stacked=True,
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="Tokens in / out",
                left=[
                    _metric("TokensIn", {"model": m, "version": v}, "Sum", f"in {m} {v}")
                    for m, v in versions
                ],
                right=[
                    _metric("TokensOut", {"model": m, "version": v}, "Sum", f"out {m} {v}")
                    for m, v in versions
                ],
                width=WIDTH,
            ),
        ]

    def _lambda_widgets(self, functions: dict[str, lambda_.IFunction]) -> list[cw.IWidget]:
        cold_starts = [
            cw.Metric(
                namespace=NS,
                metric_name="ColdStart",
                dimensions_map={"function_name": fn.function_name, "service": service},
                statistic="Sum",
                period=PERIOD,
                label=label,
            )
            for label, fn, service in (
                ("router", functions["router"], naming.ROUTER_SERVICE),
                ("stream", functions["stream"], naming.ROUTER_SERVICE),
                ("health-checker", functions["health-checker"], naming.HEALTH_CHECKER_SERVICE),
            )
        ]
        return [
            cw.GraphWidget(title="Lambda cold starts (Powertools)", left=cold_starts, width=8),
            cw.GraphWidget(
                title="Lambda throttles",
                left=[fn.metric_throttles(label=k, period=PERIOD) for k, fn in functions.items()],
                width=8,
            ),
            cw.GraphWidget(
                title="Lambda errors / duration p99",
                left=[fn.metric_errors(label=k, period=PERIOD) for k, fn in functions.items()],
                right=[
                    fn.metric_duration(label=k, statistic="p99", period=PERIOD)
                    for k, fn in functions.items()
                ],
                width=8,
            ),
        ]

    def _api_widgets(self, api: ApiStack) -> list[cw.IWidget]:
        http_id = {"ApiId": api.http_api.api_id}
        rest = {
            "ApiName": api.stream_api.rest_api_name,
            "Stage": api.stream_api.deployment_stage.stage_name,
        }

        def gw(name: str, dims: dict[str, str], stat: str = "Sum", label: str = "") -> cw.Metric:
            return cw.Metric(
                namespace="AWS/ApiGateway",
                metric_name=name,
                dimensions_map=dims,
                statistic=stat,
                period=PERIOD,
                label=label,
            )

        return [
            cw.GraphWidget(
                title="API Gateway requests and 5xx",
                left=[gw("Count", http_id, label="http"), gw("Count", rest, label="stream")],
                right=[
                    gw("5xx", http_id, label="http 5xx"),
                    gw("5XXError", rest, label="stream 5xx"),
                ],
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="API Gateway latency p99 (ms)",
                left=[gw("Latency", http_id, "p99", "http"), gw("Latency", rest, "p99", "stream")],
                width=WIDTH,
            ),
        ]

    def _data_widgets(self, data: DataStack) -> list[cw.IWidget]:
        table = data.instances_table
        db = data.database
        cache_node = f"{data.cache_replication_group_id}-001"

        def cache(name: str, stat: str = "Average") -> cw.Metric:
            return cw.Metric(
                namespace="AWS/ElastiCache",
                metric_name=name,
                dimensions_map={"CacheClusterId": cache_node},
                statistic=stat,
                period=PERIOD,
                label=name,
            )

        return [
            cw.GraphWidget(
                title="DynamoDB instances table",
                left=[
                    table.metric_consumed_read_capacity_units(period=PERIOD),
                    table.metric_consumed_write_capacity_units(period=PERIOD),
                ],
                right=[
                    table.metric("ThrottledRequests", statistic="Sum", period=PERIOD),
                    table.metric_user_errors(period=PERIOD),
                ],
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="RDS PostgreSQL",
                left=[
                    db.metric_cpu_utilization(period=PERIOD),
                    db.metric_database_connections(period=PERIOD),
                ],
                right=[
                    db.metric_free_storage_space(period=PERIOD),
                    db.metric_freeable_memory(period=PERIOD),
                ],
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="ElastiCache Valkey",
                left=[cache("EngineCPUUtilization"), cache("DatabaseMemoryUsagePercentage")],
                right=[cache("CurrConnections"), cache("Evictions", "Sum")],
                width=WIDTH,
            ),
            cw.GraphWidget(
                title="Usage queue",
                left=[data.usage_queue.metric_approximate_age_of_oldest_message(period=PERIOD)],
                right=[data.usage_dlq.metric_approximate_number_of_messages_visible(period=PERIOD)],
                width=WIDTH,
            ),
        ]

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
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm

    def _alarms(
        self,
        config: StageConfig,
        versions: list[tuple[str, str]],
        functions: dict[str, lambda_.IFunction],
        data: DataStack,
        api: ApiStack,
    ) -> None:
        limits = config.alarms
        for model in config.models:
            mkey = model.id.replace(".", "_").replace("-", "_").replace("/", "_").replace(":", "_")
            reqs = {
                f"r{i}": _metric(
                    "Requests", {"model": model.id, "version": v.version}, "Sum"
                ).with_(period=ALARM_PERIOD)
                for i, v in enumerate(model.versions)
            }
            errs = {
                f"e{i}": _metric("Errors", {"model": model.id, "version": v.version}, "Sum").with_(
                    period=ALARM_PERIOD
                )
                for i, v in enumerate(model.versions)
            }
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
            for v in model.versions:
                self._alarm(
                    f"LatencyP99-{mkey}-{v.version}",
                    _metric("LatencyMs", {"model": model.id, "version": v.version}, "p99").with_(
                        period=ALARM_PERIOD
                    ),
                    limits.latency_p99_ms,
                    f"{model.id} {v.version}: p99 latency above {limits.latency_p99_ms} ms",
                )
            self._alarm(
                f"NoHealthyInstance-{mkey}",
                _metric("NoHealthyInstance", {"model": model.id}, "Maximum"),
                0,
                f"{model.id}: the health checker found no healthy instance",
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=2,
            )

        self._alarm(
            "Budget80",
            _metric("BudgetUsage80", {"service": naming.ROUTER_SERVICE}).with_(period=ALARM_PERIOD),
            0,
            "A key or user passed 80% of its budget",
            evaluation_periods=1,
        )
        self._alarm(
            "RouterOverheadP99",
            cw.Metric(
                namespace=NS,
                metric_name="OverheadMs",
                dimensions_map={"service": naming.ROUTER_SERVICE},
                statistic="p99",
                period=ALARM_PERIOD,
            ),
            limits.overhead_p99_ms,
            f"Router selection overhead p99 above {limits.overhead_p99_ms} ms",
        )
        for key, fn in functions.items():
            self._alarm(
                f"Throttles-{key}",
                fn.metric_throttles(period=ALARM_PERIOD),
                0,
                f"Lambda {key} is throttled",
            )
            self._alarm(
                f"Errors-{key}",
                fn.metric_errors(period=ALARM_PERIOD),
                5,
                f"Lambda {key} raised errors",
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
            data.instances_table.metric("ThrottledRequests", statistic="Sum", period=ALARM_PERIOD),
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
