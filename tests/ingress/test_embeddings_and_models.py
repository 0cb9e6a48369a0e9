"""`POST /v1/embeddings` and `GET /v1/models/{id}` with the openai SDK, strictly typed."""

from __future__ import annotations

import base64
import math
import struct

import httpx
import openai
import pytest
from openai.types import CreateEmbeddingResponse, Model

from tests.ingress.conftest import CHAT, EMBED
from tests.ingress.strict import strict
from tests.support.openai_wire_mock import OpenAIWireMock
from tests.support.router_harness import RouterHarness


@pytest.fixture
def client(router: RouterHarness) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)


def test_float_embeddings_for_a_string_and_an_array(
    client: openai.OpenAI, router: RouterHarness
) -> None:
    one = client.embeddings.create(model=EMBED, input="hello", encoding_format="float")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 16
    assert math.isclose(sum(x * x for x in one.data[0].embedding), 1.0, rel_tol=1e-6)
    raw = httpx.post(
        router.url + "/v1/embeddings",
        json={"model": EMBED, "input": ["a", "b", "c"], "encoding_format": "float"},
    )
    body = strict(CreateEmbeddingResponse, raw.json())
    assert [d.index for d in body.data] == [0, 1, 2]
    assert body.usage.prompt_tokens > 0 and raw.headers["x-motherfluxer-model"] == EMBED


def test_base64_embeddings_decode_to_the_float_result(
    client: openai.OpenAI, router: RouterHarness, upstream: OpenAIWireMock
) -> None:
    floats = client.embeddings.create(model=EMBED, input="hello", encoding_format="float")
    raw = httpx.post(
        router.url + "/v1/embeddings",
        json={"model": EMBED, "input": "hello", "encoding_format": "base64"},
    ).json()
    assert isinstance(raw["data"][0]["embedding"], str)
    decoded = struct.unpack("<16f", base64.b64decode(raw["data"][0]["embedding"]))
    assert all(
        math.isclose(a, b, rel_tol=1e-6)
        for a, b in zip(decoded, floats.data[0].embedding, strict=True)
    )
    # The SDK's default (base64) round trip gives the same vector back.
    sdk = client.embeddings.create(model=EMBED, input="hello", encoding_format="base64")
    assert isinstance(sdk.data[0].embedding, str)
    assert upstream.bodies("/v1/embeddings")[-1]["encoding_format"] == "float"


def test_dimensions_served_where_the_model_supports_them(client: openai.OpenAI) -> None:
    short = client.embeddings.create(
        model=EMBED, input="hello", dimensions=8, encoding_format="float"
    )
    assert len(short.data[0].embedding) == 8
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=EMBED, input="hello", dimensions=64)
    # The instance's own refusal, its message passed on.
    assert "dimensions" in info.value.body["message"]  # type: ignore[index]
    assert "param" in info.value.body  # type: ignore[operator]


def test_a_chat_model_does_not_serve_embeddings(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.embeddings.create(model=CHAT, input="hello")
    assert info.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model=EMBED, input=[])
    assert empty.value.body["param"] == "input"  # type: ignore[index]


def test_models_retrieve_is_a_strict_model_with_metadata(
    client: openai.OpenAI, router: RouterHarness
) -> None:
    model = client.models.retrieve(CHAT)
    assert model.id == CHAT and model.created > 0 and model.owned_by == "acme"
    raw = httpx.get(router.url + f"/v1/models/{CHAT}").json()
    extras = {k: raw.pop(k) for k in list(raw) if k not in Model.model_fields}
    strict(Model, raw)
    assert "context_window" in extras and "status" in extras


@pytest.mark.parametrize("alias", ["MOCK-CHAT", "acme/mock-chat", "Acme/Mock-Chat"])
def test_models_retrieve_accepts_case_and_provider_aliases(
    client: openai.OpenAI, alias: str
) -> None:
    assert client.models.retrieve(alias).id == CHAT


def test_unknown_model_is_an_openai_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    body = info.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model"  # type: ignore[index]
