"""Public Lambda layers: Lambda Web Adapter (always) and Powertools (when configured).

Both are published by AWS accounts in the `aws` partition only; the app targets that
partition (cdk.json `@aws-cdk/core:target-partitions`), and `StageConfig` rejects regions
of other partitions, so the ARNs below exist wherever the stacks deploy.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_

from infra.config import StageConfig

LWA_ACCOUNT = "753240598075"
POWERTOOLS_ACCOUNT = "017000801446"


def web_adapter_layer(stack: cdk.Stack, config: StageConfig) -> lambda_.ILayerVersion:
    return lambda_.LayerVersion.from_layer_version_arn(
        stack,
        "WebAdapter",
        f"arn:aws:lambda:{cdk.Aws.REGION}:{LWA_ACCOUNT}:layer:"
        f"LambdaAdapterLayerArm64:{config.lambda_web_adapter_layer_version}",
    )


def powertools_layers(stack: cdk.Stack, config: StageConfig) -> list[lambda_.ILayerVersion]:
    """None by default: Powertools comes bundled from lambdas/requirements.txt."""
    if config.powertools_layer_version is None:
        return []
    return [
        lambda_.LayerVersion.from_layer_version_arn(
            stack,
            "Powertools",
            f"arn:aws:lambda:{cdk.Aws.REGION}:{POWERTOOLS_ACCOUNT}:layer:"
            f"AWSLambdaPowertoolsPythonV3-python312-arm64:{config.powertools_layer_version}",
        )
    ]
