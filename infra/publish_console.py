"""Put the console's pages in the stage's bucket after `cdk deploy`.

    python -m infra.publish_console --stage dev [--region eu-west-1]

It reads the Console stack's outputs (bucket, distribution, site config), uploads every file of
lambdas/router/console/static under `ui/` with its content type, writes `ui/config.json`,
removes files that are no longer part of the console, and invalidates `/ui/*` in CloudFront.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import time
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parents[1] / "lambdas" / "router" / "console" / "static"
PREFIX = "ui/"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def publish(
    s3: Any,
    bucket: str,
    site_config: dict[str, Any],
    static_dir: Path = STATIC,
    cloudfront: Any = None,
    distribution_id: str | None = None,
) -> list[str]:
    """Upload the pages and config; returns the keys written."""
    written = []
    for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        key = PREFIX + path.relative_to(static_dir).as_posix()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "binary/octet-stream"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=kind,
            CacheControl="no-cache",
        )
        written.append(key)
    s3.put_object(
        Bucket=bucket,
        Key=PREFIX + "config.json",
        Body=json.dumps(site_config).encode(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    written.append(PREFIX + "config.json")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX)
    stale = [
        o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"] not in written
    ]
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    if cloudfront is not None and distribution_id:
        cloudfront.create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": 1, "Items": ["/ui/*"]},
                "CallerReference": f"console-{time.time_ns()}",
            },
        )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("--region")
    args = parser.parse_args(argv)
    import boto3

    session = boto3.Session(region_name=args.region)
    outputs = stack_outputs(session.client("cloudformation"), f"MotherFluxer-{args.stage}-Console")
    written = publish(
        session.client("s3"),
        outputs["SiteBucket"],
        json.loads(outputs["SiteConfig"]),
        cloudfront=session.client("cloudfront"),
        distribution_id=outputs["DistributionId"],
    )
    print(f"published {len(written)} files to s3://{outputs['SiteBucket']}/{PREFIX}")
    print(f"console: {outputs.get('ConsoleUrl', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
