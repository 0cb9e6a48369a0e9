"""The stage configuration: both examples validate, mistakes are reported by field name."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_config, select_stages

ROOT = Path(__file__).resolve().parents[2]


def stages() -> dict[str, Any]:
    return copy.deepcopy(json.loads((ROOT / "cdk.json").read_text())["context"]["stages"])


def test_dev_and_prod_examples_validate() -> None:
    config = load_config({"stages": stages()})
    dev, prod = config.stages["dev"], config.stages["prod"]
    assert not dev.multi_az and dev.sizes.max_azs == 1
    assert prod.multi_az and prod.sizes.max_azs >= 2
    assert {m.hosting.kind for m in prod.models} >= {"sagemaker", "ecs", "external"}
    # The catalog handed to the router carries routing fields only, never hosting details.
    catalog = json.loads(dev.catalog_json())
    assert set(catalog) <= {"models", "scale_to_zero", "readiness"}
    assert all("hosting" not in m for m in catalog["models"])


def test_bad_instance_type_names_the_field() -> None:
    broken = stages()
    broken["dev"]["models"][0]["hosting"]["instance_type"] = "t3.micro"
    with pytest.raises(ConfigError) as error:
        load_config({"stages": broken})
    assert "stages.dev.models[0].hosting.instance_type" in str(error.value)
    assert "not a GPU instance type" in str(error.value)


def test_unknown_field_and_bad_email_are_both_reported() -> None:
    broken = stages()
    broken["prod"]["alarm_email"] = "nobody"
    broken["prod"]["sizes"]["rds_instnce_class"] = "t4g.micro"
    with pytest.raises(ConfigError) as error:
        load_config({"stages": broken})
    message = str(error.value)
    assert "stages.prod.alarm_email" in message
    assert "stages.prod.sizes.rds_instnce_class" in message


def test_fallback_to_unknown_model_is_rejected() -> None:
    broken = stages()
    broken["dev"]["models"][0]["fallback"] = "no-such-model"
    with pytest.raises(ConfigError, match=r"stages\.dev: .*fallback 'no-such-model'"):
        load_config({"stages": broken})


def test_external_provider_needs_its_key_secret() -> None:
    broken = stages()
    del broken["dev"]["models"][1]["hosting"]["api_key_secret_name"]
    with pytest.raises(ConfigError, match=r"stages\.dev\.models\[1\]\.hosting"):
        load_config({"stages": broken})


def test_domain_outside_the_hosted_zone_is_rejected() -> None:
    broken = stages()
    broken["dev"]["domain_name"] = "api.elsewhere.example.org"
    with pytest.raises(ConfigError, match="not inside hosted zone"):
        load_config({"stages": broken})


def test_unknown_stage_is_rejected() -> None:
    config = load_config({"stages": stages()})
    with pytest.raises(ConfigError, match="'qa' is not one of"):
        select_stages(config, "qa")
    assert [s.name for s in select_stages(config, None)] == ["dev", "prod"]


@pytest.mark.synth
def test_app_exits_non_zero_with_the_field_name(tmp_path: Path) -> None:
    broken = stages()
    broken["dev"]["sizes"]["cache_node_type"] = "t4g.micro"
    env = {
        **os.environ,
        # The CDK CLI hands `-c` values to the app this way.
        "CDK_CONTEXT_JSON": json.dumps({"stages": broken, "stage": "dev"}),
        "CDK_OUTDIR": str(tmp_path),
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "stages.dev.sizes.cache_node_type" in result.stderr


def test_default_outdir_is_cdk_out_unless_the_cli_sets_one(monkeypatch) -> None:
    from tests.infra.conftest import load_app_module

    app_module = load_app_module()
    monkeypatch.delenv("CDK_OUTDIR", raising=False)
    assert app_module.default_outdir() == str(ROOT / "cdk.out")
    monkeypatch.setenv("CDK_OUTDIR", "/tmp/elsewhere")
    assert app_module.default_outdir() == "/tmp/elsewhere"
