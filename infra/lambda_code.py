"""The Lambda code asset: `lambdas/` plus its pinned dependencies for arm64 Python 3.12.

Dependencies are installed with pip on the host (no Docker): pip fetches manylinux aarch64
wheels for CPython 3.12 regardless of the machine it runs on. Both manylinux tags are allowed:
greenlet and psycopg-binary publish aarch64 wheels tagged only `manylinux_2_28`, which the
Lambda Python 3.12 runtime (Amazon Linux 2023, glibc 2.34) loads. The app skips bundling unless
`-c bundle=true` is given, so synth and tests only fingerprint the source folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

# Never shipped to Lambda: tests, caches, local state.
ASSET_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "tests",
    "**/tests",
    ".venv",
    "*.egg-info",
]

LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """Install requirements for the Lambda platform with the host's pip, then copy the source."""

    def __init__(self, source_dir: Path) -> None:
        self._source = source_dir

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        out = Path(output_dir)
        requirements = self._source / "requirements.txt"
        if requirements.exists():
            command = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--requirement",
                str(requirements),
                "--target",
                str(out),
                *(arg for tag in LAMBDA_PLATFORMS for arg in ("--platform", tag)),
                "--implementation",
                "cp",
                "--python-version",
                LAMBDA_PYTHON_VERSION,
                "--only-binary=:all:",
                "--upgrade",
            ]
            subprocess.run(command, check=True)
        ignore = shutil.ignore_patterns(
            "__pycache__", "*.pyc", ".pytest_cache", "tests", ".venv", "*.egg-info"
        )
        shutil.copytree(self._source, out, dirs_exist_ok=True, ignore=ignore)
        return True


def lambda_code(source_dir: Path) -> lambda_.Code:
    """One asset for every function of a stack (router, streamer, workers share one package)."""
    return lambda_.Code.from_asset(
        str(source_dir),
        exclude=ASSET_EXCLUDES,
        bundling=cdk.BundlingOptions(
            # Only used if local bundling is impossible; the local path always answers True.
            image=cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
            command=[
                "bash",
                "-c",
                "pip install -r requirements.txt -t /asset-output && cp -au . /asset-output",
            ],
            local=PipLocalBundling(source_dir),
        ),
    )
