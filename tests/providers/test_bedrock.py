"""Bedrock Converse through the router, and the Bedrock mock checked with boto3 itself."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from pydantic import BaseModel

from tests.providers.conftest import external
from tests.support.mock_bedrock import BedrockMock
from tests.support.router_harness import RouterHarness

PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\2" * 16).decode()


class Verdict(BaseModel):
    guilty: bool
    reasons: list[str]


@pytest.fixture(scope="module")
def mocks(
    provider_router: RouterHarness, clean_provider_env
) -> Iterator[tuple[BedrockMock, BedrockMock]]:
    clean_provider_env.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    clean_provider_env.setenv("AWS_SECRET_ACCESS_KEY", "bedrock-secret-never-logged")
    with BedrockMock() as first, BedrockMock() as second:
        # The second goes through the SDK's own variable, the first through the instance.
        clean_provider_env.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", second.url)
        external(provider_router, "bedrock-claude", "bedrock", first.url, instance_id="br-a",
                 upstream_model=PROFILE)  # fmt: skip
        external(provider_router, "claude-backup", "bedrock", "", instance_id="br-b",
                 upstream_model="anthropic.claude-3-haiku-20240307-v1:0")  # fmt: skip
        provider_router.refresh()
        yield first, second


@pytest.fixture
def client(provider_router: RouterHarness, mocks) -> openai.OpenAI:
    for m in mocks:
        m.state.actions.clear()
        m.state.requests.clear()
    return openai.OpenAI(base_url=provider_router.url + "/v1", api_key="x", max_retries=0)


def test_plain_with_an_inference_profile_id(client, mocks) -> None:
    r = client.chat.completions.create(
        model="bedrock-claude",
        messages=[{"role": "system", "content": "terse"}, {"role": "user", "content": "hi"}],
        max_tokens=40,
    )
    assert r.choices[0].message.content == "Hello from the Bedrock mock. You said: hi"
    assert r.choices[0].finish_reason == "stop" and r.usage.completion_tokens > 0
    sent = mocks[0].requests[-1]
    assert sent.query["model"] == PROFILE
    assert "/bedrock/aws4_request" in sent.headers["Authorization"]
    assert sent.body["system"] == [{"text": "terse"}]
    assert sent.body["inferenceConfig"] == {"maxTokens": 40}


def test_stream_over_the_aws_event_stream(client) -> None:
    chunks = list(client.chat.completions.create(
        model="bedrock-claude", messages=[{"role": "user", "content": "a b c"}], stream=True,
        stream_options={"include_usage": True},
    ))  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the Bedrock mock. You said: a b c"
    assert chunks[-1].usage.prompt_tokens > 0


def test_tools_streamed_deltas_and_round_trip(client, mocks) -> None:
    stream = client.chat.completions.create(
        model="bedrock-claude",
        messages=[{"role": "user", "content": "weather twice, in parallel"}],
        tools=[WEATHER],
        tool_choice="required",
        stream=True,
    )
    args: dict[int, str] = {}
    ids: dict[int, str] = {}
    for chunk in stream:
        for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            args[d.index] = args.get(d.index, "") + (d.function.arguments or "")
            ids[d.index] = ids.get(d.index, "") + (d.id or "")
    assert sorted(args) == [0, 1] and json.loads(args[1]) == {"city": "example"}
    assert mocks[0].requests[-1].body["toolConfig"]["toolChoice"] == {"any": {}}
    reply = client.chat.completions.create(
        model="bedrock-claude",
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": ids[0], "type": "function",
                 "function": {"name": "get_weather", "arguments": args[0]}},
            ]},
            {"role": "tool", "tool_call_id": ids[0], "content": "sunny"},
        ],
        tools=[WEATHER],
    )  # fmt: skip
    assert reply.choices[0].message.content == "The tool said: sunny"


def test_parse_via_forced_tool_and_image_bytes(client, mocks) -> None:
    r = client.chat.completions.parse(
        model="bedrock-claude",
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "judge this"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ]}],
        response_format=Verdict,
    )  # fmt: skip
    assert isinstance(r.choices[0].message.parsed, Verdict)
    sent = mocks[0].requests[-1].body
    assert sent["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": PNG}}
    }
    assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "json_answer"}}


def test_throttling_fails_over_then_5xx_fails_over(client, mocks) -> None:
    mocks[0].push({"error": 429})
    r = client.chat.completions.with_raw_response.create(
        model=["bedrock-claude", "claude-backup"], messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-motherfluxer-model"] == "claude-backup"
    assert mocks[1].requests[-1].query["model"] == "anthropic.claude-3-haiku-20240307-v1:0"
    mocks[1].push({"error": 500})
    r = client.chat.completions.with_raw_response.create(
        model=["claude-backup", "bedrock-claude"], messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-motherfluxer-model"] == "bedrock-claude"


@pytest.mark.parametrize(
    "fault",
    [
        {"cut_after": 3},
        {"malformed_after": 3},
        {"stream_error": "modelStreamErrorException", "after": 3},
    ],
)
def test_broken_stream_ends_with_an_error(client, mocks, fault) -> None:
    mocks[1].push(fault)
    stream = client.chat.completions.create(
        model="claude-backup", messages=[{"role": "user", "content": "a b c d e f"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_mock_fidelity_with_boto3(mocks) -> None:
    mock = mocks[0]
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=mock.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    r = sdk.converse(modelId=PROFILE, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert r["stopReason"] == "end_turn" and r["usage"]["inputTokens"] > 0
    tools = {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}],
             "toolChoice": {"any": {}}}  # fmt: skip
    events = list(sdk.converse_stream(
        modelId=PROFILE, messages=[{"role": "user", "content": [{"text": "x"}]}], toolConfig=tools
    )["stream"])  # fmt: skip
    assert next(iter(events[0])) == "messageStart"
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
    mock.push({"error": 429})
    with pytest.raises(ClientError) as err:
        sdk.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    mock.push({"stream_error": "throttlingException", "after": 1})
    with pytest.raises(EventStreamError):
        list(
            sdk.converse_stream(
                modelId="m", messages=[{"role": "user", "content": [{"text": "x y"}]}]
            )["stream"]
        )
    with pytest.raises(ClientError, match="alternate"):
        sdk.converse(modelId="m", messages=[{"role": "assistant", "content": [{"text": "x"}]}])
    with pytest.raises(ClientError, match="toolResult"):
        result = {"toolResult": {"toolUseId": "nope", "content": [{"text": "x"}]}}
        sdk.converse(
            modelId="m", messages=[{"role": "user", "content": [result]}], toolConfig=tools
        )


def test_https_image_is_fetched_into_bytes(mocks) -> None:
    import asyncio

    import orjson
    from aiohttp import web

    from router.upstream.base import Timeouts
    from router.upstream.bedrock import BedrockClient
    from router.upstream.images import ImageFetcher
    from routing.instances import Instance
    from tests.support.mock_base import MockServer, MockState

    raw = base64.b64decode(PNG)

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=raw, content_type="image/png")

    app = web.Application()
    app.router.add_get("/i.png", image)
    with MockServer(app, MockState()) as images:
        client = BedrockClient(
            images=ImageFetcher(address_allowed=lambda ip: True, schemes=("http",))
        )
        inst = Instance("b", "m", "v1", "external", mocks[0].url, tags={"provider": "bedrock"})
        body = {"model": PROFILE, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": images.url + "/i.png"}}]}]}  # fmt: skip

        async def go() -> int:
            try:
                reply = await client.send(inst, "/v1/chat/completions", orjson.dumps(body),
                                          stream=False, timeouts=Timeouts(2, 5, 5, 10))  # fmt: skip
                return reply.status
            finally:
                await client.aclose()

        assert asyncio.run(go()) == 200
    block = mocks[0].requests[-1].body["messages"][0]["content"][0]
    assert block == {"image": {"format": "png", "source": {"bytes": PNG}}}
