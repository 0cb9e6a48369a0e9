"""One stage (dev, prod) = five stacks wired in dependency order."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra import nag
from infra.api_stack import ApiStack
from infra.config import StageConfig
from infra.console_stack import ConsoleStack
from infra.data_stack import DataStack
from infra.models_stack import ModelsStack
from infra.monitoring_stack import MonitoringStack
from infra.network_stack import NetworkStack
from infra.stage_stacks import StageStacks


def build_stage(
    app: cdk.App, config: StageConfig, *, lambdas_dir: Path, containers_dir: Path
) -> StageStacks:
    env = None
    if config.env.account or config.env.region:
        env = cdk.Environment(account=config.env.account, region=config.env.region)
    prefix = config.prefix
    tags = {"project": "motherfluxer", "stage": config.name}

    def props(name: str, description: str) -> dict[str, object]:
        return {
            "env": env,
            "stack_name": f"{prefix}-{name}",
            "description": description,
            "tags": tags,
        }

    network = NetworkStack(
        app,
        f"{prefix}-Network",
        config=config,
        **props("Network", "MotherFluxer VPC, endpoints, flow logs"),
    )
    data = DataStack(
        app,
        f"{prefix}-Data",
        config=config,
        network=network,
        **props("Data", "MotherFluxer stateful resources (retained)"),
    )
    api = ApiStack(
        app,
        f"{prefix}-Api",
        config=config,
        network=network,
        data=data,
        lambdas_dir=lambdas_dir,
        **props("Api", "MotherFluxer API Gateway, router and worker Lambdas"),
    )
    models = None
    if config.self_hosted():
        models = ModelsStack(
            app,
            f"{prefix}-Models",
            config=config,
            network=network,
            data=data,
            api=api,
            containers_dir=containers_dir,
            **props("Models", "MotherFluxer self-hosted model endpoints"),
        )
    monitoring = MonitoringStack(
        app,
        f"{prefix}-Monitoring",
        config=config,
        data=data,
        api=api,
        **props("Monitoring", "MotherFluxer dashboards and alarms"),
    )
    console = ConsoleStack(
        app,
        f"{prefix}-Console",
        config=config,
        api=api,
        **props("Console", "MotherFluxer web console (S3 + CloudFront) and Cognito sign-in"),
    )
    stacks = StageStacks(network, data, api, models, monitoring, console)
    nag.acknowledge_stage(stacks, config)
    return stacks


def enable_nag(app: cdk.App) -> None:
    """AwsSolutions checks with the cdk-nag v3 plugin API; findings fail synth."""
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
