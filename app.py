#!/usr/bin/env python3
"""MotherFluxer CDK app.

    python app.py                      # synthesize every stage in cdk.json (dev and prod)
    cdk synth -c stage=dev             # one stage
    cdk deploy -c stage=dev -c bundle=true --all

The stage configuration is read once from the `stages` context, validated into a typed
`StageConfig` and handed to the stacks as properties. Bundling of the Lambda dependencies is
skipped unless `-c bundle=true` is given, so synth stays offline and fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# The stage config reuses the router's catalog schema from lambdas/routing.
for path in (ROOT / "lambdas", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402

from infra.config import ConfigError, load_config, select_stages  # noqa: E402
from infra.stages import build_stage, enable_nag  # noqa: E402


def _truthy(value: object) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def cdk_json_context() -> dict[str, object]:
    """cdk.json context, so `python app.py` without the CLI sees the same flags and stages."""
    return json.loads((ROOT / "cdk.json").read_text()).get("context", {})


def default_outdir() -> str:
    """`cdk.out` beside this file, unless the CDK CLI chose the folder (CDK_OUTDIR)."""
    return os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out")


def build_app(
    context: dict[str, object] | None = None,
    outdir: str | None = None,
    containers_dir: Path | None = None,
) -> cdk.App:
    """Create the app with every selected stage; `context` overrides cdk.json and the CLI."""
    base = {**cdk_json_context(), **(context or {})}
    # A throwaway app reads the merged context (cdk.json < CLI -c < overrides) before the real
    # one is built, because bundling has to be switched off through post-CLI context.
    probe = cdk.App(context=base, post_cli_context=dict(context or {}), auto_synth=False)

    def setting(key: str, default: object = None) -> object:
        value = probe.node.try_get_context(key)
        return default if value is None else value

    overrides = dict(context or {})
    if not _truthy(setting("bundle", False)):
        overrides["aws:cdk:bundling-stacks"] = []
    app = cdk.App(
        outdir=outdir or default_outdir(),
        context=base,
        post_cli_context=overrides,
    )
    config = load_config({"stages": setting("stages")})
    stage = setting("stage")
    containers = containers_dir or Path(str(setting("containers_dir", ROOT / "containers")))
    for stage_config in select_stages(config, None if stage is None else str(stage)):
        build_stage(
            app,
            stage_config,
            lambdas_dir=ROOT / "lambdas",
            containers_dir=containers if containers.is_absolute() else ROOT / containers,
        )
    if _truthy(setting("nag", True)):
        enable_nag(app)
    return app


def main() -> int:
    try:
        app = build_app()
    except ConfigError as exc:
        print(f"MotherFluxer configuration error:\n{exc}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
