"""Gemini through the router: the unchanged `openai` SDK against a strict Gemini mock."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import openai
import orjson
import pytest
from aiohttp import web
from pydantic import BaseModel

from router.upstream.base import Timeouts
from router.upstream.credentials import Credentials
from router.upstream.gemini import GeminiProtocol
from router.upstream.images import ImageFetcher
from router.upstream.provider_http import TranslatingHTTPClient
from routing.instances import Instance
from tests.providers.conftest import external
from tests.support.mock_base import MockServer, MockState
from tests.support.mock_gemini import GeminiMock
from tests.support.router_harness import RouterHarness

KEY = "gm-secret-abcdef123456"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
PNG = b"\x89PNG\r\n\x1a\n" + b"\1" * 32


class Forecast(BaseModel):
    city: str
    high: float
    days: list[str]
    note: str | None


@pytest.fixture(scope="module")
def mocks(
    provider_router: RouterHarness, clean_provider_env: pytest.MonkeyPatch
) -> Iterator[tuple[GeminiMock, GeminiMock]]:
    clean_provider_env.setenv("GEMINI_API_KEY", KEY)
    first, second = GeminiMock(KEY).start(), GeminiMock(KEY).start()
    external(
        provider_router,
        "gemini",
        "gemini",
        first.url,
        instance_id="gem-a",
        upstream_model="gemini-2.0-flash",
    )
    external(provider_router, "gemini-backup", "gemini", second.url, instance_id="gem-b")
    provider_router.refresh()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def client(provider_router: RouterHarness, mocks):
    for m in mocks:
        m.state.actions.clear()
        m.state.requests.clear()
    return openai.OpenAI(base_url=provider_router.url + "/v1", api_key="x", max_retries=0)


def test_plain_completion_and_gemini_wire_shape(client, mocks) -> None:
    r = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        max_tokens=50,
        stop=["zzz"],
    )
    assert r.choices[0].message.content == "Hello from the Gemini mock. You said: hi"
    assert r.choices[0].finish_reason == "stop" and r.usage.prompt_tokens > 0
    sent = mocks[0].requests[-1]
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY and "key" not in sent.query
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert sent.body["generationConfig"] == {"maxOutputTokens": 50, "stopSequences": ["zzz"]}


def test_stream(client, mocks) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gemini",
            messages=[{"role": "user", "content": "one two three four five"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the Gemini mock. You said: one two three four five"
    assert mocks[0].requests[-1].query == {"alt": "sse"}
    assert chunks[-1].usage.total_tokens > 0


def test_parallel_tool_calls_and_streamed(client, mocks) -> None:
    r = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": "weather and time in parallel"}],
        tools=[WEATHER, TIME],
        tool_choice="required",
    )
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and len(calls) == 2
    assert json.loads(calls[0].function.arguments) == {"city": "example", "unit": "c"}
    sent = mocks[0].requests[-1].body
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    params = sent["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "additionalProperties" not in params and params["type"] == "OBJECT"

    stream = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    deltas = [d for c in stream if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas))["unit"] == "c"
    named = mocks[0].requests[-1].body["toolConfig"]["functionCallingConfig"]
    assert named == {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}


def test_tool_result_round_trip(client, mocks) -> None:
    first = client.chat.completions.create(
        model="gemini", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER]
    )
    call = first.choices[0].message.tool_calls[0]
    second = client.chat.completions.create(
        model="gemini",
        messages=[
            {"role": "user", "content": "weather?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
        ],
        tools=[WEATHER],
    )
    assert second.choices[0].message.content == 'The tool said: {"sky": "clear"}'
    contents = mocks[0].requests[-1].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"sky": "clear"},
    }


def test_parse_uses_native_response_schema(client, mocks) -> None:
    r = client.chat.completions.parse(
        model="gemini", messages=[{"role": "user", "content": "forecast"}], response_format=Forecast
    )
    assert isinstance(r.choices[0].message.parsed, Forecast)
    gen = mocks[0].requests[-1].body["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    note = gen["responseSchema"]["properties"]["note"]
    assert note["type"] == "STRING" and note["nullable"] is True


def test_data_url_image_is_inline_data(client, mocks) -> None:
    data = base64.b64encode(PNG).decode()
    client.chat.completions.create(
        model="gemini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
                ],
            }
        ],
    )
    part = mocks[0].requests[-1].body["contents"][0]["parts"][1]
    assert part == {"inlineData": {"mimeType": "image/png", "data": data}}


def test_private_image_url_is_refused_before_the_call(client, mocks) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="gemini",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://169.254.169.254/x.png"},
                        },
                    ],
                }
            ],
        )
    assert "messages[0].content[0]" in err.value.message
    assert err.value.body["param"] == "messages[0].content[0]"
    assert not mocks[0].requests


def test_429_with_retry_info_fails_over_and_cools_down(client, mocks) -> None:
    mocks[1].push({"error": 429, "retry_after": "1"})
    wanted = ["gemini-backup", "gemini"]
    r = client.chat.completions.with_raw_response.create(
        model=wanted, messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-motherfluxer-model"] == "gemini"
    client.chat.completions.create(model=wanted, messages=[{"role": "user", "content": "again"}])
    assert len(mocks[1].requests) == 1, "the rate-limited pair is skipped while it cools down"
    time.sleep(1.1)


def test_5xx_fails_over(client, mocks) -> None:
    mocks[0].push({"error": 503})
    r = client.chat.completions.with_raw_response.create(
        model=["gemini", "gemini-backup"], messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-motherfluxer-model"] == "gemini-backup"


@pytest.mark.parametrize("fault", [{"cut_after": 1}, {"malformed_after": 1}])
def test_broken_stream_ends_with_an_error(client, mocks, fault) -> None:
    mocks[1].push(fault)
    stream = client.chat.completions.create(
        model="gemini-backup",
        messages=[{"role": "user", "content": "a b c d e f g h i"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_https_image_is_fetched_and_inlined() -> None:
    """The client fetches remote images itself (Gemini wants bytes), here from loopback."""

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/cat.png", image)
    with MockServer(app, MockState()) as images, GeminiMock(KEY) as gemini:
        fetcher = ImageFetcher(address_allowed=lambda ip: True, schemes=("http", "https"))
        client = TranslatingHTTPClient(
            GeminiProtocol(), Credentials(env={"GEMINI_API_KEY": KEY}), fetcher
        )
        inst = Instance("g", "gemini", "v1", "external", gemini.url, tags={"provider": "gemini"})
        body = {
            "model": "gemini-2.0-flash",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": images.url + "/cat.png"}},
                    ],
                }
            ],
        }

        async def go() -> None:
            try:
                reply = await client.send(
                    inst,
                    "/v1/chat/completions",
                    orjson.dumps(body),
                    stream=False,
                    timeouts=Timeouts(2, 5, 5, 10),
                )
                assert reply.status == 200
            finally:
                await client.aclose()

        asyncio.run(go())
        sent = gemini.requests[-1].body["contents"][0]["parts"][0]["inlineData"]
        assert base64.b64decode(sent["data"]) == PNG and sent["mimeType"] == "image/png"
