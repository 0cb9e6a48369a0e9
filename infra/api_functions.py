"""The Lambda functions of the API stack: one asset, one log group each, in the VPC."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr

from infra import naming
from infra.common import retention
from infra.config import StageConfig
from infra.network_stack import NetworkStack

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCH = lambda_.Architecture.ARM_64


@dataclass
class FunctionFactory:
    """Builds functions directly in `stack` (so logical ids stay those of a flat stack)."""

    stack: cdk.Stack
    config: StageConfig
    network: NetworkStack
    code: lambda_.Code
    layers: list[lambda_.ILayerVersion] = field(default_factory=list)

    def function(
        self,
        construct_id: str,
        *,
        role_name: str,
        handler: str,
        memory: int,
        timeout: int,
        environment: dict[str, str],
        extra_layers: list[lambda_.ILayerVersion] | None = None,
        snap_start: lambda_.SnapStartConf | None = None,
    ) -> lambda_.Function:
        name = naming.function_name(self.config, role_name)
        log_group = logs.LogGroup(
            self.stack,
            f"{construct_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=retention(self.config.sizes.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        return lambda_.Function(
            self.stack,
            construct_id,
            function_name=name,
            runtime=RUNTIME,
            architecture=ARCH,
            code=self.code,
            handler=handler,
            memory_size=memory,
            timeout=cdk.Duration.seconds(timeout),
            layers=[*(extra_layers or []), *self.layers],
            environment=environment,
            snap_start=snap_start,
            vpc=self.network.vpc,
            vpc_subnets=self.network.app_subnets,
            security_groups=[self.network.lambda_sg],
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
        )


def migrations_resource(
    stack: cdk.Stack, config: StageConfig, migrations_fn: lambda_.IFunction, lambdas_dir: Path
) -> cdk.CustomResource:
    """A custom resource that runs pending migrations whenever lambdas/accounts changes."""
    provider_logs = logs.LogGroup(
        stack,
        "MigrationsProviderLogs",
        retention=retention(config.sizes.log_retention_days),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    provider = cr.Provider(
        stack, "MigrationsProvider", on_event_handler=migrations_fn, log_group=provider_logs
    )
    accounts_dir = lambdas_dir / "accounts"
    # A new fingerprint (any change under lambdas/accounts) makes CloudFormation send an
    # Update, which runs pending migrations; unchanged code skips the call.
    fingerprint = (
        cdk.FileSystem.fingerprint(str(accounts_dir), exclude=["**/__pycache__"])
        if accounts_dir.exists()
        else "none"
    )
    return cdk.CustomResource(
        stack,
        "RunMigrations",
        service_token=provider.service_token,
        resource_type="Custom::MotherFluxerMigrations",
        properties={"Fingerprint": fingerprint, "Stage": config.name},
    )
