"""OpenAI, DeepSeek, MiniMax and Azure OpenAI: one body, different addresses and key headers."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest
from aiohttp import web

from router.upstream.base import Timeouts, UpstreamFailure
from router.upstream.credentials import Credentials
from router.upstream.openai_compat import OpenAICompatibleClient
from routing.instances import Instance
from tests.support.mock_base import MockServer, MockState, Recorded

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "x",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


@pytest.fixture(scope="module")
def upstream():
    state = MockState()

    async def chat(request: web.Request) -> web.Response:
        state.requests.append(
            Recorded(request.path, dict(request.query), dict(request.headers), await request.json())
        )
        action = state.take()
        if action.get("error") == 429:
            return web.json_response(
                {"error": {"message": "slow down"}},
                status=429,
                headers={"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "6m0s"},
            )
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_post("/{tail:.*}", chat)
    with MockServer(app, state) as server:
        yield server


def send(provider: str, env: dict[str, str], tags: dict[str, str] | None = None, endpoint=""):
    async def go():
        client = OpenAICompatibleClient(Credentials(env=env), azure=provider == "azure")
        tags_all = {"provider": provider, "upstream_model": "dep-1", **(tags or {})}
        inst = Instance("i", "m", "v1", "external", endpoint, tags=tags_all)
        body = orjson.dumps({"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]})
        try:
            return await client.send(
                inst, "/v1/chat/completions", body, stream=False, timeouts=Timeouts(2, 5, 5, 10)
            )
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("provider", "key_env", "base_env"),
    [
        ("openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
        ("deepseek", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL"),
        ("minimax", "MINIMAX_API_KEY", "MINIMAX_BASE_URL"),
    ],
)
def test_base_url_and_bearer_key_from_env(upstream, provider, key_env, base_env) -> None:
    reply = send(provider, {key_env: f"{provider}-key", base_env: upstream.url + "/v1"})
    assert (
        reply.status == 200 and json.loads(reply.body)["choices"][0]["message"]["content"] == "ok"
    )
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["Authorization"] == f"Bearer {provider}-key"


def test_azure_deployment_url_api_version_and_api_key(upstream) -> None:
    env = {"AZURE_OPENAI_API_KEY": "az-key", "AZURE_OPENAI_ENDPOINT": upstream.url}
    assert send("azure", env, {"api_version": "2024-10-21"}).status == 200
    sent = upstream.requests[-1]
    assert sent.path == "/openai/deployments/dep-1/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "az-key" and "Authorization" not in sent.headers


def test_instance_endpoint_used_when_no_env_override(upstream) -> None:
    assert send("deepseek", {"DEEPSEEK_API_KEY": "k"}, endpoint=upstream.url + "/v1").status == 200
    assert upstream.requests[-1].path == "/v1/chat/completions"


def test_429_cools_for_the_ratelimit_reset(upstream) -> None:
    upstream.push({"error": 429})
    with pytest.raises(UpstreamFailure) as err:
        send("openai", {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": upstream.url + "/v1"})
    assert err.value.outcome == "http_429" and err.value.retry_after == 2.0
