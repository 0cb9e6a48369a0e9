"""Local bundling of the Lambda asset: source copied without tests or caches, no Docker."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.synth


def test_local_bundling_copies_source_without_tests_or_caches(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    from infra.lambda_code import lambda_code

    source = tmp_path / "src"
    (source / "router" / "tests").mkdir(parents=True)
    (source / "router" / "__pycache__").mkdir()
    (source / "router" / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (source / "router" / "tests" / "test_it.py").write_text("")
    (source / "router" / "__pycache__" / "handler.cpython-312.pyc").write_bytes(b"")
    run = source / "run.sh"
    run.write_text("#!/bin/sh\nexec python -m uvicorn router.lambda_web:app\n")
    run.chmod(0o755)

    outdir = tmp_path / "out"
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Bundled")
    lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.ARM_64,
        handler="router.handler.handler",
        code=lambda_code(source),
    )
    app.synth()

    (asset,) = [p for p in outdir.iterdir() if p.name.startswith("asset.")]
    files = {p.relative_to(asset).as_posix() for p in asset.rglob("*") if p.is_file()}
    assert files == {"router/handler.py", "run.sh"}
    # The web adapter execs run.sh, so it must stay executable.
    assert (asset / "run.sh").stat().st_mode & 0o111
