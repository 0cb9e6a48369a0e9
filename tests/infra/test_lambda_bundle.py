"""The real Lambda asset: built for arm64 from the package registry, as `-c bundle=true` does.

Slow (pip downloads and unpacks every pinned wheel for manylinux aarch64, about two minutes),
so it is marked `slow`; it is the check that `cdk deploy -c bundle=true` would get past synth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.infra.conftest import load_app_module

pytestmark = [pytest.mark.slow, pytest.mark.synth]

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory, containers_dir: Path) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out.bundle")
    app = load_app_module().build_app(
        context={"nag": False, "bundle": True, "stage": "dev"},
        outdir=str(outdir),
        containers_dir=containers_dir,
    )
    app.synth()
    return outdir


def _router_asset(outdir: Path) -> tuple[Path, dict]:
    template = json.loads((outdir / "MotherFluxer-dev-Api.template.json").read_text())
    functions = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName")
    ]
    keys = {json.dumps(f["Properties"]["Code"]["S3Key"]) for f in functions}
    assert len(keys) == 1, "all our functions share one asset"
    asset_hash = json.loads(next(iter(keys))).removesuffix(".zip")
    return outdir / f"asset.{asset_hash}", {"functions": functions}


def test_asset_builds_for_arm64_with_the_manylinux_2_28_wheels(bundled: Path) -> None:
    asset, _ = _router_asset(bundled)
    # greenlet and psycopg-binary publish aarch64 wheels only as manylinux_2_28.
    greenlet = [p.name for p in asset.glob("greenlet/_greenlet*.so")]
    assert greenlet and all("aarch64" in name for name in greenlet)
    psycopg_libs = list((asset / "psycopg_binary").glob("*.so"))
    assert psycopg_libs and all("aarch64" in p.name for p in psycopg_libs)


def test_asset_is_under_the_unzipped_lambda_limit(bundled: Path) -> None:
    asset, _ = _router_asset(bundled)
    size = _size(asset)
    print(f"router asset: {size / 1024**2:.0f} MB unzipped")
    assert size < LAMBDA_UNZIPPED_LIMIT


def test_every_handler_the_templates_name_exists_in_the_asset(bundled: Path) -> None:
    asset, found = _router_asset(bundled)
    for fn in found["functions"]:
        handler = fn["Properties"]["Handler"]
        if handler == "run.sh":
            script = asset / "run.sh"
            assert script.is_file() and os.access(script, os.X_OK)
            continue
        module, attribute = handler.rsplit(".", 1)
        source = asset / (module.replace(".", "/") + ".py")
        assert source.is_file(), handler
        text = source.read_text()
        assert f"def {attribute}(" in text or f"{attribute} =" in text, handler
    # The shared contracts package ships with the code that imports it.
    assert (asset / "contracts" / "metrics.py").is_file()
