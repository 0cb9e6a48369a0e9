"""API Gateway access-log format and the HTTP API's access-log settings object."""

from __future__ import annotations

import json

import jsii
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2


@jsii.implements(apigwv2.IAccessLogSettings)
class HttpAccessLogs:
    """HTTP API stage access-log settings (an interface in jsii, so a small class here)."""

    def __init__(
        self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat
    ) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def access_log_format() -> apigw.AccessLogFormat:
    return apigw.AccessLogFormat.custom(
        json.dumps(
            {
                "requestId": "$context.requestId",
                "ip": "$context.identity.sourceIp",
                "requestTime": "$context.requestTime",
                "method": "$context.httpMethod",
                "path": "$context.path",
                "status": "$context.status",
                "protocol": "$context.protocol",
                "responseLength": "$context.responseLength",
                "integrationLatency": "$context.integrationLatency",
                "integrationError": "$context.integrationErrorMessage",
            }
        )
    )
