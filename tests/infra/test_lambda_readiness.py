"""The Lambda Web Adapter waits on liveness, never on models that may be asleep; the catalog
the router reads says which models sleep, how long each takes to wake, and leaves them out of
`/health/ready`."""

from __future__ import annotations

import json

import pytest

from contracts import env
from infra.config import EcsHosting, load_config
from infra.model_startup import image_start_seconds
from router.api.health import router as health_router
from tests.infra.conftest import ROOT, STAGES, Synth
from tests.infra.test_config import stages

pytestmark = pytest.mark.synth


def _streamer_env(synth: Synth, stage: str) -> dict[str, str]:
    for fn in synth.resources(stage, "Api", "AWS::Lambda::Function").values():
        if fn["Properties"].get("Handler") == "run.sh":
            return fn["Properties"]["Environment"]["Variables"]
    raise AssertionError("no Lambda Web Adapter function")


@pytest.mark.parametrize("stage", STAGES)
def test_adapter_readiness_check_is_the_liveness_route(synth: Synth, stage: str) -> None:
    path = _streamer_env(synth, stage)["AWS_LWA_READINESS_CHECK_PATH"]
    assert path == env.LIVENESS_PATH == "/health/live"
    # The path is a route the router serves, and not the model-aware readiness route.
    served = {getattr(r, "path", None) for r in health_router.routes}
    assert path in served and "/health/ready" in served


@pytest.mark.parametrize("stage", STAGES)
def test_catalog_parameter_names_sleeping_models_and_leaves_them_out_of_readiness(
    synth: Synth, stage: str
) -> None:
    config = load_config({"stages": stages()}).stages[stage]
    sleeping = {m.id for m in config.models if m.scales_to_zero}
    assert sleeping, f"{stage} has a GPU model that scales to zero"
    params = synth.resources(stage, "Api", "AWS::SSM::Parameter").values()
    doc = json.loads(next(iter(params))["Properties"]["Value"])
    assert set(doc["scale_to_zero"]) == sleeping
    assert not sleeping & set(doc["readiness"]["models"])
    assert set(doc["readiness"]["models"]) | sleeping == {m["id"] for m in doc["models"]}


def test_wake_time_covers_the_model_start_period() -> None:
    """A Retry-After shorter than the model load sends clients back to a model still asleep."""
    start = image_start_seconds(ROOT / "containers")
    assert EcsHosting.model_fields["wake_seconds"].default > start
    for stage in load_config({"stages": stages()}).stages.values():
        for m in stage.models:
            if isinstance(m.hosting, EcsHosting) and m.scales_to_zero:
                assert m.hosting.wake_seconds > start, m.id
