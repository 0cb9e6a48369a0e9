"""`motherfluxer validate`: one error per problem, each naming its field."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _catalog() -> dict:
    return json.loads((ROOT / "devstack" / "local.json").read_text())


def test_the_shipped_catalog_and_stage_config_are_valid(cli) -> None:
    code, out, _ = cli("validate", str(ROOT / "devstack" / "local.json"), str(ROOT / "cdk.json"))
    assert code == 0
    assert "(catalog): ok" in out and "(stage config): ok" in out


def test_each_catalog_problem_is_one_line_naming_the_field(cli, tmp_path) -> None:
    doc = _catalog()
    doc["models"][0]["quality"] = 7
    doc["models"][1]["context_window"] = "big"
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(doc))
    code, out, _ = cli("validate", str(path))
    errors = [line for line in out.splitlines() if line.startswith("  ")]
    assert code == 1
    assert len(errors) == 2
    assert "models[0].quality" in errors[0]
    assert "models[1].context_window" in errors[1]


def test_rules_are_checked_against_the_catalog(cli, tmp_path) -> None:
    doc = _catalog()
    doc["rules"] = [
        {
            "name": "to-nowhere",
            "when": [{"field": "task", "value": "coding"}],
            "action": {"route_to": "no-such-model"},
        }
    ]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(doc))
    code, out, _ = cli("--json", "validate", str(path))
    report = json.loads(out)
    assert code == 1
    assert report[0]["errors"] == ["rules: rule to-nowhere: unknown model 'no-such-model'"]


def test_stage_config_errors_name_the_stage_field(cli, tmp_path) -> None:
    cdk = json.loads((ROOT / "cdk.json").read_text())
    stage = next(iter(cdk["context"]["stages"]))
    cdk["context"]["stages"][stage]["domain_name"] = "Not A Domain"
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps(cdk))
    code, out, _ = cli("validate", str(path))
    assert code == 1
    assert f"stages.{stage}.domain_name" in out


def test_broken_json_is_reported_with_its_position(cli, tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"models": [}')
    code, out, _ = cli("validate", str(path))
    assert code == 1 and "line 1 column" in out
