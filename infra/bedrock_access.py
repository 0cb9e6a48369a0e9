"""Which Bedrock resources a router may invoke: each configured model, and for a cross-region
inference profile the profile plus the model in every region the profile may route to."""

from __future__ import annotations

import aws_cdk as cdk

# Regions a Bedrock cross-region inference profile may route to, by its id's prefix.
PROFILE_REGIONS = {
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "eu": ("eu-central-1", "eu-west-1", "eu-west-3", "eu-north-1"),
    "apac": ("ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2"),
}


def bedrock_resource_arns(models: list[str]) -> list[str]:
    """ARNs for InvokeModel/ConverseStream, with no wildcard region."""
    arns: list[str] = []
    for m in models:
        geo, _, base = m.partition(".")
        if geo in PROFILE_REGIONS:
            arns.append(
                f"arn:{cdk.Aws.PARTITION}:bedrock:{cdk.Aws.REGION}:{cdk.Aws.ACCOUNT_ID}:"
                f"inference-profile/{m}"
            )
            arns += [
                f"arn:{cdk.Aws.PARTITION}:bedrock:{region}::foundation-model/{base}"
                for region in PROFILE_REGIONS[geo]
            ]
        else:
            arns.append(f"arn:{cdk.Aws.PARTITION}:bedrock:{cdk.Aws.REGION}::foundation-model/{m}")
    return arns
