"""The web console in AWS: S3 (private) behind CloudFront with origin access control at
`console.<hosted zone>`, a strict CSP, and a Cognito user pool for sign-up and sign-in.

The pages are the same files the router serves locally at /ui/ (lambdas/router/console/static);
here they live under the bucket's `ui/` prefix with a `config.json` that points them at the
streaming API door and the pool's hosted UI. `infra/publish_console.py` uploads them after
`cdk deploy` (a BucketDeployment would need a Lambda with wildcard S3 permissions). The
router learns the console's origin (the only origin CORS allows) and the pool's issuer and
client through its environment.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.api_stack import ApiStack
from infra.config import StageConfig, slug

# Directory URLs to their pages: S3 behind OAC has no index documents of its own.
REWRITE = """
function handler(event) {
  var r = event.request;
  if (r.uri === "/" || r.uri === "/ui") { r.uri = "/ui/index.html"; }
  else if (r.uri === "/ui/") { r.uri = "/ui/index.html"; }
  else if (r.uri === "/ui/admin" || r.uri === "/ui/admin/") { r.uri = "/ui/admin.html"; }
  return r;
}
"""


def console_host(config: StageConfig) -> str:
    return f"console.{config.hosted_zone_name}"


def content_security_policy(api_origins: list[str], cognito_origin: str) -> str:
    # The hosted UI's token endpoint is fetched by the page (PKCE code exchange).
    connect = " ".join(["'self'", *api_origins, cognito_origin])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'self' {cognito_origin}; "
        "frame-ancestors 'none'; upgrade-insecure-requests"
    )


class ConsoleStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        api: ApiStack,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        host = console_host(config)
        origin = f"https://{host}"
        self.pool, self.client, auth_domain = self._user_pool(config, origin)
        self.bucket, self.distribution = self._site(config, host, auth_domain)
        self.site_config = {
            # The streaming door, so chat answers arrive token by token.
            "api_base": f"https://{config.stream_host}",
            "local_signup": False,
            "cognito": {"domain": auth_domain, "client_id": self.client.user_pool_client_id},
        }
        # Only plain strings and this stack's own values cross over: the API stack then depends
        # on this one, never the other way round.
        issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool.user_pool_id}"
        for fn in (api.router_fn, api.stream_fn):
            fn.add_environment("MOTHERFLUXER_CONSOLE_ORIGIN", origin)
            fn.add_environment("MOTHERFLUXER_LOCAL_SIGNUP", "false")
            fn.add_environment("MOTHERFLUXER_COGNITO_ISSUER", issuer)
            fn.add_environment("MOTHERFLUXER_COGNITO_CLIENT_IDS", self.client.user_pool_client_id)
            fn.add_environment("MOTHERFLUXER_COGNITO_ADMIN_GROUP", "admin")
        cdk.CfnOutput(self, "ConsoleUrl", value=f"{origin}/ui/")
        cdk.CfnOutput(self, "HostedUiDomain", value=auth_domain)
        # What infra/publish_console.py needs to put the pages in place after `cdk deploy`.
        cdk.CfnOutput(self, "SiteBucket", value=self.bucket.bucket_name)
        cdk.CfnOutput(self, "DistributionId", value=self.distribution.distribution_id)
        cdk.CfnOutput(self, "SiteConfig", value=cdk.Stack.of(self).to_json_string(self.site_config))
        self._acknowledge()

    # -- Cognito ------------------------------------------------------------------------------
    def _user_pool(
        self, config: StageConfig, origin: str
    ) -> tuple[cognito.UserPool, cognito.UserPoolClient, str]:
        retain = config.name == "prod"
        pool = cognito.UserPool(
            self,
            "Users",
            user_pool_name=f"{config.prefix}-users",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            user_verification=cognito.UserVerificationConfig(
                email_style=cognito.VerificationEmailStyle.CODE
            ),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            removal_policy=cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY,
            deletion_protection=retain,
        )
        cognito.CfnUserPoolGroup(
            self,
            "AdminGroup",
            user_pool_id=pool.user_pool_id,
            group_name="admin",
            description="MotherFluxer admins: the admin tier",
        )
        domain = pool.add_domain(
            "HostedUi",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=slug(f"motherfluxer-{config.name}-{config.hosted_zone_name}", 63)
            ),
        )
        client = pool.add_client(
            "Console",
            user_pool_client_name=f"{config.prefix}-console",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                # Authorization code with PKCE only: no token ever rides in a URL fragment.
                flows=cognito.OAuthFlows(implicit_code_grant=False, authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"{origin}/ui/", f"{origin}/ui/admin"],
                logout_urls=[f"{origin}/ui/"],
            ),
            id_token_validity=cdk.Duration.hours(1),
            access_token_validity=cdk.Duration.hours(1),
            prevent_user_existence_errors=True,
        )
        auth_domain = f"{domain.domain_name}.auth.{self.region}.amazoncognito.com"
        return pool, client, auth_domain

    # -- S3 + CloudFront ----------------------------------------------------------------------
    def _site(
        self, config: StageConfig, host: str, auth_domain: str
    ) -> tuple[s3.Bucket, cloudfront.Distribution]:
        logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=logs,
            server_access_logs_prefix="s3/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=config.hosted_zone_id, zone_name=config.hosted_zone_name
        )
        # CloudFront only takes certificates from us-east-1, whatever the stage's region.
        certificate = self.certificate = acm.DnsValidatedCertificate(
            self, "Certificate", domain_name=host, hosted_zone=zone, region="us-east-1"
        )
        apis = [f"https://{config.domain_name}", f"https://{config.stream_host}"]
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(apis, f"https://{auth_domain}"),
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(365),
                    include_subdomains=True,
                    override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
            ),
        )
        rewrite = cloudfront.Function(
            self,
            "Pages",
            code=cloudfront.FunctionCode.from_inline(REWRITE),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
        )
        distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"{config.prefix} console",
            domain_names=[host],
            certificate=certificate,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=rewrite, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            enable_logging=True,
            log_bucket=logs,
            log_file_prefix="cloudfront/",
        )
        target = route53.RecordTarget.from_alias(route53_targets.CloudFrontTarget(distribution))
        route53.ARecord(self, "Alias", zone=zone, record_name=host, target=target)
        route53.AaaaRecord(self, "Alias6", zone=zone, record_name=host, target=target)
        return bucket, distribution

    def _acknowledge(self) -> None:
        nag.ack(self, "CFR1", "A global console: no geographic restriction is wanted.")
        nag.ack(
            self,
            "CFR2",
            "Static public pages with no server side; the API behind them has its own WAF.",
        )
        nag.ack(
            self,
            "S1",
            "The access-log bucket itself: logging it to itself would loop.",
        )
        helpers = "CDK's certificate requestor function"
        # On the certificate construct only (its requestor function and role live under it),
        # so a future role elsewhere in this stack is still checked.
        requestor = getattr(self, "certificate", None) or self
        nag.ack(
            requestor,
            f"IAM4[{nag.LAMBDA_BASIC}]",
            f"{helpers} log through AWSLambdaBasicExecutionRole.",
        )
        nag.ack(
            requestor,
            "IAM5[Resource::*]",
            f"{helpers}: ACM's RequestCertificate/DescribeCertificate take no resource ARN.",
        )
        nag.ack(self, "L1", "CDK-managed helper functions pick their own runtime.")
        nag.ack(self, "COG2", "MFA is offered (TOTP) but optional for console users.")
