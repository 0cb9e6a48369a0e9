"""The console's AWS stack: private S3 behind CloudFront (OAC), strict CSP, console.<zone>,
Cognito with email verification, hosted UI and an admin group; the router told its origin."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import load_app_module

pytestmark = pytest.mark.synth
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    outdir = tmp_path_factory.mktemp("console-cdk.out")
    folder = tmp_path_factory.mktemp("containers")
    (folder / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["serve"]\n')
    app = load_app_module().build_app(
        context={"nag": True, "stage": "dev"}, outdir=str(outdir), containers_dir=folder
    )
    app.synth()  # raises on any unacknowledged cdk-nag finding
    yield {
        p.name.removesuffix(".template.json"): json.loads(p.read_text())
        for p in outdir.glob("*.template.json")
    }


def _of(template: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == type_]


def _text(value: Any) -> str:
    """A CloudFormation string with deploy-time parts (Fn::Join) shown as <token>."""
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_text(p) for p in parts)
    return value if isinstance(value, str) else "<token>"


def _stage() -> dict[str, Any]:
    return json.loads((ROOT / "cdk.json").read_text())["context"]["stages"]["dev"]


def test_site_bucket_is_private_and_served_only_through_oac(templates) -> None:
    console = templates["MotherFluxer-dev-Console"]
    for bucket in _of(console, "AWS::S3::Bucket"):
        block = bucket["PublicAccessBlockConfiguration"]
        assert all(
            block[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        )
    assert _of(console, "AWS::CloudFront::OriginAccessControl")
    dist = _of(console, "AWS::CloudFront::Distribution")[0]["DistributionConfig"]
    zone = _stage()["hosted_zone_name"]
    assert dist["Aliases"] == [f"console.{zone}"]
    assert dist["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert dist["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    records = [r["Name"] for r in _of(console, "AWS::Route53::RecordSet")]
    assert f"console.{zone}." in records


def test_pages_get_a_strict_csp_that_allows_only_the_api(templates) -> None:
    console = templates["MotherFluxer-dev-Console"]
    policy = _of(console, "AWS::CloudFront::ResponseHeadersPolicy")[0][
        "ResponseHeadersPolicyConfig"
    ]
    csp = _text(policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    stage = _stage()
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert f"https://{stage['domain_name']}" in csp
    # The page exchanges the PKCE code at the hosted UI's /oauth2/token itself.
    connect = next(d for d in csp.split(";") if d.strip().startswith("connect-src"))
    assert ".amazoncognito.com" in connect


def test_cognito_pool_verifies_email_has_hosted_ui_and_an_admin_group(templates) -> None:
    console = templates["MotherFluxer-dev-Console"]
    pool = _of(console, "AWS::Cognito::UserPool")[0]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert _of(console, "AWS::Cognito::UserPoolDomain")
    assert [g["GroupName"] for g in _of(console, "AWS::Cognito::UserPoolGroup")] == ["admin"]
    client = _of(console, "AWS::Cognito::UserPoolClient")[0]
    zone = _stage()["hosted_zone_name"]
    assert f"https://console.{zone}/ui/" in client["CallbackURLs"]
    # Authorization code grant (the console adds PKCE), never the implicit grant; no secret.
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client.get("GenerateSecret", False) is False


def test_the_router_allows_only_the_console_origin_and_trusts_the_pool(templates) -> None:
    api = templates["MotherFluxer-dev-Api"]
    zone = _stage()["hosted_zone_name"]
    envs = [
        fn["Environment"]["Variables"]
        for fn in _of(api, "AWS::Lambda::Function")
        if "MOTHERFLUXER_CONSOLE_ORIGIN" in fn.get("Environment", {}).get("Variables", {})
    ]
    assert len(envs) == 2  # the buffered and the streaming router
    for env in envs:
        assert env["MOTHERFLUXER_CONSOLE_ORIGIN"] == f"https://console.{zone}"
        assert env["MOTHERFLUXER_LOCAL_SIGNUP"] == "false"
        assert "MOTHERFLUXER_COGNITO_ISSUER" in env and "MOTHERFLUXER_COGNITO_CLIENT_IDS" in env


def test_publishing_uploads_the_pages_with_their_types_and_drops_stale_files(tmp_path) -> None:
    import boto3
    from moto import mock_aws

    from infra.publish_console import publish

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="site")
        s3.put_object(Bucket="site", Key="ui/old.js", Body=b"gone")
        s3.put_object(Bucket="site", Key="other/keep.txt", Body=b"stays")
        config = {"api_base": "https://stream.example.com", "local_signup": False}
        written = publish(s3, "site", config)
        assert {"ui/index.html", "ui/admin.html", "ui/js/chat.js", "ui/config.json"} <= set(written)
        head = s3.head_object(Bucket="site", Key="ui/js/chat.js")
        assert head["ContentType"] == "text/javascript"
        assert s3.head_object(Bucket="site", Key="ui/index.html")["ContentType"].startswith(
            "text/html"
        )
        body = s3.get_object(Bucket="site", Key="ui/config.json")["Body"].read()
        assert json.loads(body) == config
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="site")["Contents"]}
        assert "ui/old.js" not in keys and "other/keep.txt" in keys


def test_the_stack_outputs_what_publishing_needs(templates) -> None:
    outputs = templates["MotherFluxer-dev-Console"]["Outputs"]
    assert {"SiteBucket", "DistributionId", "SiteConfig", "ConsoleUrl"} <= set(outputs)
