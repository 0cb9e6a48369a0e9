"""One synthesis of the whole CDK app (both stages, cdk-nag on) shared by every infra test."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")
STACKS = ("Network", "Data", "Api", "Models", "Monitoring")


def load_app_module() -> ModuleType:
    """app.py by path: a bare `import app` could pick up another top-level `app` module."""
    spec = importlib.util.spec_from_file_location("motherfluxer_cdk_app", ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Synth:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    manifest: dict[str, Any]
    report: dict[str, Any]

    def template(self, stage: str, stack: str) -> dict[str, Any]:
        return self.templates[f"MotherFluxer-{stage}-{stack}"]

    def assertions(self, stage: str, stack: str):
        from aws_cdk.assertions import Template

        return Template.from_json(self.template(stage, stack))

    def resources(self, stage: str, stack: str, type_: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template(stage, stack)["Resources"].items()
            if resource["Type"] == type_
        }


@pytest.fixture(scope="session")
def containers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    real = ROOT / "containers"
    if (real / "Dockerfile").is_file():
        return real
    # Until the model image's Dockerfile lands, a stand-in folder gives the asset something
    # to fingerprint; nothing is built at synth.
    folder = tmp_path_factory.mktemp("containers")
    (folder / "Dockerfile").write_text('FROM python:3.12-slim\nCMD ["serve"]\n')
    return folder


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, containers_dir: Path) -> Iterator[Synth]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = load_app_module().build_app(
        context={"nag": True}, outdir=str(outdir), containers_dir=containers_dir
    )
    # Raises if cdk-nag reports an unacknowledged finding.
    app.synth()
    templates = {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in outdir.glob("*.template.json")
    }
    yield Synth(
        outdir=outdir,
        templates=templates,
        manifest=json.loads((outdir / "manifest.json").read_text()),
        report=json.loads((outdir / "validation-report.json").read_text()),
    )


def policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every identity policy (inline role policies and AWS::IAM::Policy)."""
    statements: list[dict[str, Any]] = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            statements.extend(props["PolicyDocument"]["Statement"])
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
