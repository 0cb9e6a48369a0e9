"""One cdk-nag acknowledgement: a finding id on a construct (and its children), with a reason.

Stacks call this where a finding arises; infra/nag.py holds the stage-wide ones.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

LAMBDA_BASIC = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
LAMBDA_VPC = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
)
APIGW_LOGS = (
    "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
)


def ack(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding id on `scope` and its children."""
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason)
    )
