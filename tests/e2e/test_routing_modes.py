"""Selection modes through the HTTP API of the running local stack (issue 4).

Covers `/inference` (manual, auto, hybrid with every fallback mode), the OpenAI forms of
`model` (an id, "auto", a list) and the `/models/recommend` dry run. Traffic uses the stack's
registered-tier key, so the demo tier's per-IP limit shared with other modules is never touched.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from devstack.stack import EmbeddedStack

CODING_PROMPT = "Write a Python function that reverses a linked list and explain its complexity"
CHAT_PROMPT = "Hey! How was your weekend? I just got back from a lovely trip with friends"
TASKS = {"chat", "coding", "creative", "qa", "reasoning", "research", "vision"}
# Endpoints of the model server that run the model; health probes hit others and are ignored.
GENERATION_PATHS = ("/v1/completions", "/v1/chat/completions", "/invocations")


@pytest.fixture(scope="module")
def sdk(stack: EmbeddedStack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=stack.api_key, max_retries=0)


def infer(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/inference", json={"max_length": 4, **body})


def ok_json(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- /inference --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["tiny-chat", "tiny-coder"])
def test_manual_inference_answers_from_exactly_that_model(http: httpx.Client, model: str) -> None:
    # A coding prompt sent to the chat model must still go to the chat model: manual is manual.
    out = ok_json(infer(http, prompt=CODING_PROMPT, model=model))
    assert out["selection_mode"] == "manual"
    assert out["model"] == model
    assert out["version"] == "v1"
    assert out["instance"]
    assert out["route_reason"].startswith("manual:")
    assert isinstance(out["generated_text"], str)


@pytest.mark.parametrize(
    ("prompt", "task", "model"),
    [(CODING_PROMPT, "coding", "tiny-coder"), (CHAT_PROMPT, "chat", "tiny-chat")],
)
def test_auto_inference_picks_the_model_for_the_task(
    http: httpx.Client, prompt: str, task: str, model: str
) -> None:
    resp = infer(http, prompt=prompt, auto_select=True)
    out = ok_json(resp)
    assert out["selection_mode"] == "auto"
    assert out["task"] == task
    assert out["model"] == model
    assert resp.headers["x-motherfluxer-task"] == task
    assert resp.headers["x-motherfluxer-model"] == model


def test_hybrid_uses_the_preferred_model_when_it_is_available(http: httpx.Client) -> None:
    # The chat model is preferred for a coding prompt, which auto would have sent elsewhere.
    for fallback in ("auto", "none", ["tiny-coder"]):
        out = ok_json(
            infer(http, prompt=CODING_PROMPT, preferred_model="tiny-chat", fallback_mode=fallback)
        )
        assert out["selection_mode"] == "hybrid"
        assert out["model"] == "tiny-chat", fallback


def test_conflicting_modes_are_a_json_400(http: httpx.Client) -> None:
    resp = infer(http, prompt="hi", model="tiny-chat", auto_select=True)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "conflicting_selection_modes"


# -- OpenAI forms of `model` -------------------------------------------------------------------


def test_openai_model_id_is_manual(sdk: openai.OpenAI) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="tiny-coder", messages=[{"role": "user", "content": CHAT_PROMPT}], max_tokens=4
    )
    assert raw.parse().model == "tiny-coder"
    assert raw.headers["x-motherfluxer-model"] == "tiny-coder"
    assert raw.headers["x-motherfluxer-version"] == "v1"


@pytest.mark.parametrize(
    ("prompt", "task", "model"),
    [(CODING_PROMPT, "coding", "tiny-coder"), (CHAT_PROMPT, "chat", "tiny-chat")],
)
def test_openai_model_auto_routes_by_task(
    sdk: openai.OpenAI, prompt: str, task: str, model: str
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": prompt}], max_tokens=4
    )
    assert raw.parse().choices[0].message.content is not None
    assert raw.headers["x-motherfluxer-task"] == task
    assert raw.headers["x-motherfluxer-model"] == model
    # The overhead header is a number of milliseconds a client can chart.
    assert float(raw.headers["x-motherfluxer-overhead-ms"]) >= 0


@pytest.mark.parametrize("order", [["tiny-coder", "tiny-chat"], ["tiny-chat", "tiny-coder"]])
def test_openai_model_list_takes_the_first_served(http: httpx.Client, order: list[str]) -> None:
    # The SDK types `model` as a string, so the list form is sent as plain JSON.
    resp = http.post(
        "/v1/chat/completions",
        json={
            "model": order,
            "messages": [{"role": "user", "content": CHAT_PROMPT}],
            "max_tokens": 4,
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-motherfluxer-model"] == order[0]
    assert resp.headers["x-motherfluxer-route-reason"].startswith("list:")


# -- hybrid when the preferred model is down ---------------------------------------------------


def _model(http: httpx.Client, model: str) -> dict[str, Any]:
    return ok_json(http.get(f"/models/{model}"))


def _wait_for(http: httpx.Client, model: str, healthy: int, timeout_s: float = 20) -> None:
    """Poll the public model view until it shows `healthy` routable instances."""
    deadline = time.monotonic() + timeout_s
    seen = -1
    while time.monotonic() < deadline:
        seen = _model(http, model)["status"]["healthy_instances"]
        if seen == healthy:
            return
        time.sleep(0.2)
    raise AssertionError(f"{model}: {seen} healthy instances, wanted {healthy}")


@pytest.fixture
def coder_drained(http: httpx.Client, admin: httpx.Client) -> Iterator[None]:
    """Both tiny-coder instances drained for the test, undrained afterwards whatever happens."""
    ids = [i["instance_id"] for i in _model(http, "tiny-coder")["instances"] if i["routable"]]
    assert len(ids) == 2, ids
    try:
        for instance_id in ids:
            # Draining the last one takes the model down on purpose: that needs force.
            resp = admin.post(f"/admin/instances/{instance_id}/drain", params={"force": "true"})
            assert resp.status_code == 200, resp.text
        _wait_for(http, "tiny-coder", 0)
        yield
    finally:
        for instance_id in ids:
            admin.post(f"/admin/instances/{instance_id}/undrain")
        _wait_for(http, "tiny-coder", 2)


@pytest.mark.usefixtures("coder_drained")
def test_hybrid_without_its_preferred_model(http: httpx.Client) -> None:
    # fallback "none": the caller asked for this model or nothing, and gets a JSON error.
    resp = infer(http, prompt=CODING_PROMPT, preferred_model="tiny-coder", fallback_mode="none")
    assert resp.status_code in (404, 503), resp.text
    error = resp.json()["error"]
    assert set(error) >= {"type", "message", "param", "code"}
    assert error["code"] == "model_not_served"
    assert "tiny-coder" in error["message"]
    # Nothing internal leaks into the message a client sees.
    assert not re.search(r"127\.0\.0\.1|Traceback|mf_", resp.text)

    # A fallback list: the listed model answers.
    out = ok_json(
        infer(http, prompt=CODING_PROMPT, preferred_model="tiny-coder", fallback_mode=["tiny-chat"])
    )
    assert out["selection_mode"] == "hybrid"
    assert out["model"] == "tiny-chat"
    assert "not served" in out["route_reason"]

    # fallback "auto": the best remaining model for the task answers.
    out = ok_json(
        infer(http, prompt=CODING_PROMPT, preferred_model="tiny-coder", fallback_mode="auto")
    )
    assert out["model"] == "tiny-chat"

    # Auto selection routes a coding prompt around the drained coder instead of failing.
    out = ok_json(infer(http, prompt=CODING_PROMPT, auto_select=True))
    assert out["task"] == "coding"
    assert out["model"] == "tiny-chat"


# -- /models/recommend -------------------------------------------------------------------------


def _generation_counters(stack: EmbeddedStack) -> dict[int, float]:
    """Per model server: generation requests plus generated tokens, from its /metrics."""
    totals: dict[int, float] = {}
    for child in stack.model_children:
        if not child.alive():
            continue
        port: int = child.port  # type: ignore[attr-defined]
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("model_server_generated_tokens_total "):
                total += float(line.split()[-1])
            elif line.startswith("model_server_requests_total{") and any(
                f'"{path}"' in line for path in GENERATION_PATHS
            ):
                total += float(line.split()[-1])
        totals[port] = total
    return totals


def _settled_counters(stack: EmbeddedStack) -> dict[int, float]:
    """Counters once two reads agree: a server counts a request just after answering it."""
    last = _generation_counters(stack)
    for _ in range(20):
        time.sleep(0.1)
        now = _generation_counters(stack)
        if now == last:
            break
        last = now
    return last


def test_recommend_is_a_dry_run_that_names_task_and_model(
    stack: EmbeddedStack, http: httpx.Client
) -> None:
    before = _settled_counters(stack)
    assert len(before) >= 4

    coding = http.post("/models/recommend", json={"prompt": CODING_PROMPT})
    chat = http.post(
        "/models/recommend", json={"messages": [{"role": "user", "content": CHAT_PROMPT}]}
    )
    by_query = http.get("/models/recommend", params={"prompt": CODING_PROMPT})

    for resp in (coding, chat, by_query):
        out = ok_json(resp)
        assert out["task"] in TASKS
        assert set(out) >= {"recommended_model", "confidence", "alternatives", "reasoning"}
        assert 0 <= out["confidence"] <= 1
        assert out["reasoning"]
        assert all(a["model"] != out["recommended_model"] for a in out["alternatives"])
        assert "x-motherfluxer-instance" not in resp.headers
    assert coding.json()["task"] == "coding"
    assert coding.json()["recommended_model"] == "tiny-coder"
    assert [a["model"] for a in coding.json()["alternatives"]] == ["tiny-chat"]
    assert by_query.json()["recommended_model"] == "tiny-coder"
    assert chat.json()["task"] == "chat"
    assert chat.json()["recommended_model"] == "tiny-chat"

    # No model server ran a generation for any of these answers.
    assert _generation_counters(stack) == before


def test_recommend_sees_an_image_as_a_vision_task(http: httpx.Client) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]
    resp = http.post("/models/recommend", json={"messages": messages})
    # The local catalog has no vision-capable model, so the dry run names the vision task and
    # recommends nothing rather than a model that cannot see the image.
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["task"] == "vision"
    assert body["recommended_model"] is None
    assert body["alternatives"] == []
    assert "vision" in body["reasoning"]


def test_chat_with_an_image_and_no_vision_model_is_400_naming_messages(
    http: httpx.Client,
) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ]
    resp = http.post(
        "/v1/chat/completions", json={"model": "auto", "messages": messages, "max_tokens": 4}
    )
    # Refused before routing, naming the part of the request no model can take.
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "messages"
    assert resp.json()["error"]["code"] == "unsupported_parameter"
    assert "retry-after" not in resp.headers


def test_hybrid_with_an_unknown_preferred_model_answers_from_auto(http: httpx.Client) -> None:
    resp = infer(http, prompt=CODING_PROMPT, preferred_model="no-such-model", fallback_mode="auto")
    out = ok_json(resp)
    assert out["model"] == "tiny-coder" and out["selection_mode"] == "hybrid"
    reason = resp.headers["x-motherfluxer-route-reason"]
    assert reason.startswith("preferred 'no-such-model' unknown → auto; ")
    strict = infer(http, prompt="hi", preferred_model="no-such-model", fallback_mode="none")
    assert strict.status_code == 404


def test_recommend_rejects_a_body_without_prompt(http: httpx.Client) -> None:
    resp = http.post("/models/recommend", json={"requirements": {"prefer_speed": True}})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "prompt"
    assert "prompt" in resp.json()["error"]["message"]
