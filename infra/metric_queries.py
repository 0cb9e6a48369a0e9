"""CloudWatch metric objects built from the metric contract, so queries match what is emitted.

Every custom-metric query of the dashboards and alarms goes through `contract_metric`, which
asks the contract for the dimension set (the emitter's dimensions plus Powertools' `service`).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw

from contracts.metrics import NAMESPACE, MetricSpec

PERIOD = cdk.Duration.minutes(1)
ALARM_PERIOD = cdk.Duration.minutes(5)


def contract_metric(
    spec: MetricSpec,
    stat: str = "Sum",
    *,
    label: str | None = None,
    period: cdk.Duration = PERIOD,
    **dims: str,
) -> cw.Metric:
    return cw.Metric(
        namespace=NAMESPACE,
        metric_name=spec.name,
        dimensions_map=spec.query(**dims),
        statistic=stat,
        period=period,
        label=label,
    )


def per_version(
    spec: MetricSpec,
    versions: list[tuple[str, str]],
    stat: str = "Sum",
    period: cdk.Duration = PERIOD,
    label_prefix: str = "",
) -> list[cw.IMetric]:
    return [
        contract_metric(
            spec, stat, label=f"{label_prefix}{m} {v}".strip(), period=period, model=m, version=v
        )
        for m, v in versions
    ]


def combined(
    expression: str,
    metrics: list[cw.IMetric],
    label: str,
    period: cdk.Duration = ALARM_PERIOD,
) -> cw.MathExpression:
    """`expression` over the metrics, named m0..mN; e.g. `SUM(METRICS())` or `MAX([m0, m1])`."""
    using = {f"m{i}": metric for i, metric in enumerate(metrics)}
    text = expression.replace("{ids}", ", ".join(using))
    return cw.MathExpression(expression=text, using_metrics=using, period=period, label=label)


def key(model_id: str) -> str:
    """A construct-id fragment for a model id (ids may hold dots, slashes and colons)."""
    out = model_id
    for char in ".-/:":
        out = out.replace(char, "_")
    return out
