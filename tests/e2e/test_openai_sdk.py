"""The local stack driven with the official OpenAI SDK and plain HTTP, as a user would."""

from __future__ import annotations

import httpx
import openai
import pytest

from devstack.stack import EmbeddedStack


@pytest.fixture
def client(stack: EmbeddedStack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=stack.api_key, max_retries=0)


def test_models_list_shows_local_models(client: openai.OpenAI) -> None:
    ids = {m.id for m in client.models.list()}
    assert {"tiny-chat", "tiny-coder"} <= ids


def test_chat_completion_answers(client: openai.OpenAI) -> None:
    resp = client.chat.completions.with_raw_response.create(
        model="tiny-chat", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8
    )
    completion = resp.parse()
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert resp.headers["x-motherfluxer-model"] == "tiny-chat"
    assert resp.headers["x-motherfluxer-instance"]


def test_streaming_yields_chunks_then_ends(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="tiny-coder",
        messages=[{"role": "user", "content": "Write a haiku"}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 2
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_completions_endpoint(client: openai.OpenAI) -> None:
    out = client.completions.create(model="tiny-chat", prompt="Once upon", max_tokens=5)
    assert out.choices[0].text is not None


def test_unknown_model_is_a_404_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_malformed_json_is_a_json_400(stack: EmbeddedStack) -> None:
    resp = httpx.post(
        stack.url + "/v1/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "mode"),
    [
        ({"model": "tiny-coder"}, "manual"),
        ({"auto_select": True}, "auto"),
        ({"preferred_model": "tiny-chat", "fallback_mode": "auto"}, "hybrid"),
    ],
)
def test_inference_modes(stack: EmbeddedStack, body: dict, mode: str) -> None:
    resp = httpx.post(
        stack.url + "/inference",
        json={"prompt": "Write a Python function that adds two numbers", "max_length": 8, **body},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["selection_mode"] == mode
    assert out["model"] in ("tiny-chat", "tiny-coder")
    assert isinstance(out["generated_text"], str)
    if mode == "manual":
        assert out["model"] == "tiny-coder"
    if mode == "hybrid":
        assert out["model"] == "tiny-chat"


def test_inference_unknown_model_is_404(stack: EmbeddedStack) -> None:
    resp = httpx.post(stack.url + "/inference", json={"prompt": "hi", "model": "nope"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "model_not_found"
