"""The strict Gemini mock is itself checked with the official `google-genai` SDK."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from tests.support.mock_gemini import GeminiMock

KEY = "gm-fidelity"


class City(BaseModel):
    name: str
    population: int


@pytest.fixture(scope="module")
def mock() -> Iterator[GeminiMock]:
    with GeminiMock(KEY) as server:
        yield server


@pytest.fixture
def sdk(mock: GeminiMock) -> genai.Client:
    options = types.HttpOptions(base_url=mock.url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=KEY, http_options=options)


def test_sdk_reads_text_usage_and_finish(sdk: genai.Client) -> None:
    r = sdk.models.generate_content(
        model="gemini-2.0-flash",
        contents="hello",
        config=types.GenerateContentConfig(system_instruction="be nice", max_output_tokens=50),
    )
    assert r.text.startswith("Hello from the Gemini mock")
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata.prompt_token_count > 0


def test_sdk_streams_over_sse(sdk: genai.Client) -> None:
    pieces = [c.text for c in sdk.models.generate_content_stream(
        model="gemini-2.0-flash", contents="one two three four"
    )]  # fmt: skip
    assert len(pieces) > 1 and "".join(pieces).endswith("one two three four")


def test_sdk_function_calls_and_structured_output(sdk: genai.Client) -> None:
    fn = types.FunctionDeclaration(
        name="lookup",
        parameters=types.Schema(
            type="OBJECT", properties={"q": types.Schema(type="STRING")}, required=["q"]
        ),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[fn])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY")
        ),
    )
    r = sdk.models.generate_content(model="m", contents="find", config=config)
    assert r.function_calls[0].name == "lookup" and r.function_calls[0].args == {"q": "example"}
    r = sdk.models.generate_content(
        model="m",
        contents="a city",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=City
        ),
    )
    assert isinstance(r.parsed, City)


def test_sdk_sees_429_with_retry_info(mock: GeminiMock, sdk: genai.Client) -> None:
    mock.push({"error": 429, "retry_after": "9"})
    with pytest.raises(errors.ClientError) as err:
        sdk.models.generate_content(model="m", contents="x")
    assert err.value.code == 429
    assert err.value.details["error"]["details"][0]["retryDelay"] == "9s"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"contents": []}, "contents"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "role"),
        ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "messages": []}, "messages"),
        (
            {
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT", "additionalProperties": False},
                },
            },
            "additionalProperties",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"functionResponse": {"response": {}}}]}]},
            "name",
        ),
    ],
)
def test_mock_rejects_what_the_api_rejects(mock: GeminiMock, body: dict, complaint: str) -> None:
    r = httpx.post(
        mock.url + "/v1beta/models/m:generateContent", json=body, headers={"x-goog-api-key": KEY}
    )
    assert r.status_code == 400 and complaint in r.json()["error"]["message"]


def test_mock_requires_a_key(mock: GeminiMock) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    assert httpx.post(mock.url + "/v1beta/models/m:generateContent", json=body).status_code == 401
