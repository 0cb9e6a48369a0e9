"""bench/idle_cost.py on the session's synthesized templates: dev idles under $50 a month."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.infra.conftest import ROOT, Synth

pytestmark = pytest.mark.synth


def _bench() -> ModuleType:
    if "idle_cost" in sys.modules:
        return sys.modules["idle_cost"]
    spec = importlib.util.spec_from_file_location("idle_cost", ROOT / "bench" / "idle_cost.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules.
    sys.modules["idle_cost"] = module
    spec.loader.exec_module(module)
    return module


def test_dev_idles_under_fifty_dollars_a_month(synth: Synth) -> None:
    bench = _bench()
    stages = bench.stage_templates(synth.outdir)
    dev = bench.itemize(stages["dev"])
    total = sum(line.monthly for line in dev)
    assert 20 < total <= 50, [(x.item, round(x.monthly, 2)) for x in dev]
    items = {line.item: line.monthly for line in dev}
    assert items["RDS db.t4g.micro x1"] > 0 and "NAT gateway" not in items
    assert not any(i.startswith("interface endpoints") for i in items)


def test_gpu_hosts_cost_nothing_at_idle_in_either_stage(synth: Synth) -> None:
    bench = _bench()
    for stage, templates in bench.stage_templates(synth.outdir).items():
        gpu = [x for x in bench.itemize(templates) if "GPU hosts" in x.item]
        assert gpu and all(x.monthly == 0 for x in gpu), stage


def test_a_gpu_host_kept_running_is_priced(synth: Synth) -> None:
    # The bench must see an always-on GPU service: the dev had a g4dn.xlarge 24/7.
    import copy

    bench = _bench()
    templates = copy.deepcopy(bench.stage_templates(synth.outdir)["dev"])
    models = templates["MotherFluxer-dev-Models.template.json"]["Resources"]
    for resource in models.values():
        if resource["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget":
            resource["Properties"]["MinCapacity"] = 1
    gpu = [x for x in bench.itemize(templates) if "GPU hosts" in x.item]
    assert gpu[0].monthly == pytest.approx(0.526 * 730 + 8.0)


def test_prod_states_its_idle_floor(synth: Synth, capsys: pytest.CaptureFixture) -> None:
    totals = _bench().report(synth.outdir)
    out = capsys.readouterr().out
    assert "us-east-1 list prices of" in out and "prod: $" in out
    assert totals["prod"] > totals["dev"]


def test_prod_sagemaker_gpu_costs_nothing_at_idle(synth: Synth) -> None:
    bench = _bench()
    prod = bench.itemize(bench.stage_templates(synth.outdir)["prod"])
    sagemaker = [x for x in prod if x.item.startswith("SageMaker ml.")]
    assert sagemaker, [x.item for x in prod]
    assert all(x.monthly == 0 and "scaled to zero" in x.item for x in sagemaker)


def test_a_sagemaker_component_kept_awake_is_priced(synth: Synth) -> None:
    # The copies' floor keeps instances even when managed scaling may go to zero.
    import copy

    bench = _bench()
    templates = copy.deepcopy(bench.stage_templates(synth.outdir)["prod"])
    models = templates["MotherFluxer-prod-Models.template.json"]["Resources"]
    for resource in models.values():
        props = resource.get("Properties", {})
        if str(props.get("ResourceId", "")).startswith("inference-component/"):
            props["MinCapacity"] = 1
    sagemaker = [x for x in bench.itemize(templates) if x.item.startswith("SageMaker ml.")]
    hourly = bench.PRICES["sagemaker_hourly"]["ml.g5.xlarge"]
    # Two versions, one instance each.
    assert sagemaker[0].monthly == pytest.approx(2 * hourly * bench.HOURS)
