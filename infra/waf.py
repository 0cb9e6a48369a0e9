"""The web ACL in front of the streamed (REST) door: per-IP rate limit and AWS managed rules."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_wafv2 as wafv2

from infra.config import StageConfig


def _managed(name: str, priority: int, visibility, overrides=None) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=f"aws-{name}",
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=f"AWSManagedRules{name.title().replace('-', '')}RuleSet",
                rule_action_overrides=overrides,
            )
        ),
        visibility_config=visibility(f"aws-{name}"),
    )


def web_acl(stack: cdk.Stack, config: StageConfig, stage_arn: str) -> wafv2.CfnWebACL:
    def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True,
            metric_name=f"motherfluxer-{config.name}-{name}",
            sampled_requests_enabled=True,
        )

    rate = wafv2.CfnWebACL.RuleProperty(
        name="rate-per-ip",
        priority=0,
        action=wafv2.CfnWebACL.RuleActionProperty(block={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                limit=config.sizes.waf_requests_per_5min,
                aggregate_key_type="IP",
                evaluation_window_sec=300,
            )
        ),
        visibility_config=visibility("rate-per-ip"),
    )
    # Prompts are routinely larger than the common rule set's 8 KB body limit.
    body_size_counted = [
        wafv2.CfnWebACL.RuleActionOverrideProperty(
            name="SizeRestrictions_BODY",
            action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={}),
        )
    ]
    acl = wafv2.CfnWebACL(
        stack,
        "WebAcl",
        scope="REGIONAL",
        default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=visibility("acl"),
        rules=[
            rate,
            _managed("common", 1, visibility, body_size_counted),
            _managed("known-bad-inputs", 2, visibility),
        ],
    )
    wafv2.CfnWebACLAssociation(
        stack, "WebAclStream", resource_arn=stage_arn, web_acl_arn=acl.attr_arn
    )
    return acl
