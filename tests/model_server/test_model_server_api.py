"""The model server through its real HTTP API, with the tiny offline model."""

from __future__ import annotations

import json
import re

import pytest
import requests

from tests.model_server.harness import ModelServer, parse_stream

pytestmark = pytest.mark.slow  # starts real model-server processes

CHAT = {"messages": [{"role": "user", "content": "Say something about the sea."}]}


def test_ping_is_ready(tiny_server: ModelServer) -> None:
    r = tiny_server.get("/ping")
    assert r.status_code == 200


def test_health_says_it_is_a_demo(tiny_server: ModelServer) -> None:
    r = tiny_server.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["demo"] is True
    assert body["model"] == "tiny-demo"
    assert body["version"] == "v1"
    assert body["backend"] == "tiny"
    assert body["uptime_s"] > 0
    for key in ("in_flight", "restarts", "backend_pid"):
        assert isinstance(body[key], int)
    assert r.headers["x-model-demo"] == "true"


def test_models_lists_the_served_model_as_demo(tiny_server: ModelServer) -> None:
    body = tiny_server.get("/v1/models").json()
    assert body["object"] == "list"
    [entry] = body["data"]
    assert entry["id"] == "tiny-demo"
    assert entry["object"] == "model"
    assert entry["demo"] is True


def test_chat_completion_shape_and_usage(tiny_server: ModelServer) -> None:
    r = tiny_server.post("/v1/chat/completions", {**CHAT, "max_tokens": 12, "seed": 1})
    assert r.status_code == 200, r.text
    assert r.headers["x-model-demo"] == "true"
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "tiny-demo"
    [choice] = body["choices"]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length")
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5
    assert 1 <= usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    if choice["finish_reason"] == "length":
        assert usage["completion_tokens"] == 12


def test_longer_prompts_count_more_tokens(tiny_server: ModelServer) -> None:
    short = tiny_server.post("/v1/completions", {"prompt": "hi", "max_tokens": 1}).json()
    long = tiny_server.post("/v1/completions", {"prompt": "hi " * 50, "max_tokens": 1}).json()
    assert long["usage"]["prompt_tokens"] > short["usage"]["prompt_tokens"] + 20


def test_seed_and_greedy_are_repeatable(tiny_server: ModelServer) -> None:
    def text(extra: dict) -> str:
        body = {**CHAT, "max_tokens": 16, **extra}
        return tiny_server.post("/v1/chat/completions", body).json()["choices"][0]["message"][
            "content"
        ]

    assert text({"seed": 42, "temperature": 1.3}) == text({"seed": 42, "temperature": 1.3})
    assert text({"temperature": 0}) == text({"temperature": 0})
    samples = {text({"seed": s, "temperature": 1.5}) for s in range(4)}
    assert len(samples) > 1, "different seeds should give different noise"


def test_stop_sequence_cuts_the_answer(tiny_server: ModelServer) -> None:
    base = {"prompt": "The quick brown fox", "max_tokens": 40, "temperature": 0}
    full = tiny_server.post("/v1/completions", base).json()["choices"][0]["text"]
    assert len(full) > 10
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    cut = tiny_server.post("/v1/completions", {**base, "stop": [stop]}).json()
    assert cut["choices"][0]["text"] == full[: full.index(stop)]
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert cut["usage"]["completion_tokens"] < 40


def test_chat_stream_sends_chunks_usage_and_done(tiny_server: ModelServer) -> None:
    body = {
        **CHAT,
        "max_tokens": 10,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with requests.post(tiny_server.url + "/v1/chat/completions", json=body, stream=True) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        chunks, done = parse_stream(r)
    assert done
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] <= 10
    finish = chunks[-2]["choices"][0]
    assert finish["finish_reason"] in ("stop", "length")
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    buffered = tiny_server.post("/v1/chat/completions", plain).json()
    assert streamed == buffered["choices"][0]["message"]["content"]
    assert usage_chunk["usage"] == buffered["usage"]


def test_stream_without_include_usage_has_no_usage(tiny_server: ModelServer) -> None:
    body = {**CHAT, "max_tokens": 4, "stream": True}
    with requests.post(tiny_server.url + "/v1/chat/completions", json=body, stream=True) as r:
        chunks, done = parse_stream(r)
    assert done
    assert all("usage" not in c and c["choices"] for c in chunks)


def test_text_completion_buffered_and_streamed(tiny_server: ModelServer) -> None:
    body = {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}
    r = tiny_server.post("/v1/completions", body)
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "text_completion"
    assert data["usage"]["completion_tokens"] <= 8
    with requests.post(
        tiny_server.url + "/v1/completions",
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
        stream=True,
    ) as s:
        chunks, done = parse_stream(s)
    assert done
    assert (
        "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
        == data["choices"][0]["text"]
    )
    assert chunks[-1]["usage"] == data["usage"]


def test_invocations_accepts_chat_prompt_and_hf_bodies(tiny_server: ModelServer) -> None:
    chat = tiny_server.post("/invocations", {**CHAT, "max_tokens": 4}).json()
    assert chat["object"] == "chat.completion"
    text = tiny_server.post("/invocations", {"prompt": "hello", "max_tokens": 4}).json()
    assert text["object"] == "text_completion"
    hf = tiny_server.post("/invocations", {"inputs": "hello", "parameters": {"max_new_tokens": 6}})
    assert hf.status_code == 200
    [item] = hf.json()
    assert isinstance(item["generated_text"], str)
    full = tiny_server.post(
        "/invocations",
        {"inputs": "hello", "parameters": {"max_new_tokens": 6, "return_full_text": True}},
    ).json()
    # Hugging Face default is greedy, so the continuation is the same both times.
    assert full[0]["generated_text"] == "hello" + item["generated_text"]


def test_invocations_streams_sse(tiny_server: ModelServer) -> None:
    for body in (
        {**CHAT, "max_tokens": 4, "stream": True},
        {"inputs": "hello", "parameters": {"max_new_tokens": 4}, "stream": True},
    ):
        with requests.post(tiny_server.url + "/invocations", json=body, stream=True) as r:
            assert r.status_code == 200
            chunks, done = parse_stream(r)
        assert done and chunks


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (json.dumps({"messages": []}).encode(), 422, "invalid_parameters"),
        (json.dumps({**CHAT, "max_tokens": 0}).encode(), 422, "invalid_parameters"),
        (json.dumps({**CHAT, "temperature": 5}).encode(), 422, "invalid_parameters"),
        (json.dumps({**CHAT, "n": 2}).encode(), 422, "invalid_parameters"),
        (json.dumps({**CHAT, "max_tokens": 100000}).encode(), 422, "invalid_parameters"),
        (json.dumps({**CHAT, "max_tokens": 1100}).encode(), 400, "context_length_exceeded"),
    ],
)
def test_bad_requests_get_openai_error_json(
    tiny_server: ModelServer, raw: bytes, status: int, code: str
) -> None:
    r = requests.post(
        tiny_server.url + "/v1/chat/completions",
        data=raw,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert "Traceback" not in r.text


def test_invocations_without_known_fields_is_rejected(tiny_server: ModelServer) -> None:
    r = tiny_server.post("/invocations", {"question": "hi"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_parameters"


def test_oversize_body_and_unknown_path(tiny_server: ModelServer) -> None:
    big = {"prompt": "x" * 70_000}
    r = tiny_server.post("/v1/completions", big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"
    r = tiny_server.get("/nope")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"


def _metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (("{" + labels + "}") if labels else "")) + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_counters_move(tiny_server: ModelServer) -> None:
    before = tiny_server.get("/metrics")
    assert before.headers["content-type"].startswith("text/plain")
    ok = 'endpoint="/v1/chat/completions",status="200"'
    bad = 'endpoint="/v1/chat/completions",kind="client"'
    r = tiny_server.post("/v1/chat/completions", {**CHAT, "max_tokens": 5})
    generated = r.json()["usage"]["completion_tokens"]
    tiny_server.post("/v1/chat/completions", {"messages": "nope"})
    after = tiny_server.get("/metrics").text
    b = before.text
    assert (
        _metric(after, "model_server_requests_total", ok)
        == _metric(b, "model_server_requests_total", ok) + 1
    )
    assert (
        _metric(after, "model_server_errors_total", bad)
        == _metric(b, "model_server_errors_total", bad) + 1
    )
    assert (
        _metric(after, "model_server_generated_tokens_total")
        == _metric(b, "model_server_generated_tokens_total") + generated
    )
    duration = 'endpoint="/v1/chat/completions"'
    assert _metric(after, "model_server_request_duration_seconds_count", duration) >= 1
    for family in ("model_server_in_flight", "model_server_backend_restarts_total"):
        assert f"# TYPE {family} " in after


def test_official_openai_sdk_works(tiny_server: ModelServer) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=tiny_server.url + "/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["tiny-demo"]
    reply = client.chat.completions.create(
        model="tiny-demo", messages=CHAT["messages"], max_tokens=5
    )
    assert reply.usage is not None and reply.usage.completion_tokens <= 5
    stream = client.chat.completions.create(
        model="tiny-demo",
        messages=CHAT["messages"],
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].choices == []
