"""What the API functions are told through their environment (names from contracts.env)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from contracts import env
from contracts.metrics import NAMESPACE
from infra import naming
from infra.config import ExternalHosting, StageConfig
from infra.data_stack import DataStack


@dataclass(frozen=True)
class Providers:
    """External providers of a stage: their hosting config and the key secret of each."""

    hosting: dict[str, ExternalHosting]
    secrets: dict[str, secretsmanager.ISecret]

    @classmethod
    def of(cls, scope: Construct, config: StageConfig) -> Providers:
        hosting = {m.id: m.hosting for m in config.models if isinstance(m.hosting, ExternalHosting)}
        secrets = {
            model_id: secretsmanager.Secret.from_secret_name_v2(
                scope, f"ProviderKey{index}", h.api_key_secret_name
            )
            for index, (model_id, h) in enumerate(hosting.items())
            if h.api_key_secret_name
        }
        return cls(hosting, secrets)

    def router_view(self) -> dict[str, dict[str, str | None]]:
        """model id -> what the router needs to call the provider (env EXTERNAL_PROVIDERS)."""
        return {
            model_id: {
                "provider": h.provider,
                "base_url": h.base_url,
                "model": h.provider_model or model_id,
                "api_key_secret": self.secrets[model_id].secret_arn
                if model_id in self.secrets
                else None,
            }
            for model_id, h in self.hosting.items()
        }

    def bedrock_models(self) -> list[str]:
        return [
            h.provider_model or model_id
            for model_id, h in self.hosting.items()
            if h.provider == "bedrock"
        ]


def router_environment(
    stack: cdk.Stack,
    config: StageConfig,
    data: DataStack,
    catalog: ssm.StringParameter,
    providers: Providers,
) -> dict[str, str]:
    """Environment shared by the router, the streamer and the health checker."""
    return {
        env.STAGE: config.name,
        env.INSTANCES_TABLE: data.instances_table.table_name,
        env.CATALOG_PARAMETER: catalog.parameter_name,
        env.ADMIN_KEY_SECRET: data.admin_key_secret.secret_arn,
        env.SIGNING_SECRET: data.signing_secret.secret_arn,
        env.DATABASE_SECRET: data.database_secret.secret_arn,
        env.REDIS_HOST: data.cache.attr_primary_end_point_address,
        env.REDIS_PORT: data.cache.attr_primary_end_point_port,
        env.REDIS_AUTH_SECRET: data.cache_auth_secret.secret_arn,
        env.REDIS_TLS: "true",
        env.USAGE_QUEUE_URL: data.usage_queue.queue_url,
        env.SAGEMAKER_ENDPOINTS: json.dumps(naming.sagemaker_endpoints(config), sort_keys=True),
        env.SAGEMAKER_COMPONENTS: json.dumps(naming.sagemaker_components(config), sort_keys=True),
        env.ENROLLMENT_SECRETS: stack.to_json_string(
            {model_id: s.secret_arn for model_id, s in data.enrollment_secrets.items()}
        ),
        env.EXTERNAL_PROVIDERS: stack.to_json_string(providers.router_view()),
        env.REGISTRATION_IAM: "true" if config.registration_iam_auth else "false",
        env.POWERTOOLS_METRICS_NAMESPACE: NAMESPACE,
        env.POWERTOOLS_LOG_LEVEL: "INFO",
    }


def worker_environment(config: StageConfig, data: DataStack, service: str) -> dict[str, str]:
    """Environment of the database workers (usage drainer, migrations)."""
    return {
        env.STAGE: config.name,
        env.DATABASE_SECRET: data.database_secret.secret_arn,
        env.POWERTOOLS_SERVICE_NAME: service,
        env.POWERTOOLS_METRICS_NAMESPACE: NAMESPACE,
    }


def request_deadline(function_timeout_s: int) -> str:
    """The router's own request deadline, a little inside the function's, so a long request
    ends in the router's JSON 504 rather than the platform cutting the connection."""
    return str(max(1, function_timeout_s - 2))
