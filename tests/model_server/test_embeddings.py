"""POST /v1/embeddings on the tiny model, through the HTTP API and the official SDK."""

from __future__ import annotations

import base64
import math
import struct
from pathlib import Path

import openai
import pytest
from openai.types import CreateEmbeddingResponse

from tests.model_server.harness import ModelServer

pytestmark = pytest.mark.slow  # starts real model-server processes


def client(server: ModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def dims(server: ModelServer) -> int:
    [entry] = server.get("/v1/models").json()["data"]
    assert entry["capabilities"]["embeddings"] is True
    return entry["capabilities"]["embedding_dimensions"]


def floats(server: ModelServer, **body: object) -> list[list[float]]:
    r = server.post("/v1/embeddings", {"model": "tiny-demo", **body})
    assert r.status_code == 200, r.text
    parsed = CreateEmbeddingResponse.model_validate(r.json())
    return [list(d.embedding) for d in parsed.data]


def test_sdk_embeds_one_text_as_a_unit_vector(tiny_server: ModelServer) -> None:
    # The SDK asks for base64 by default and decodes it, so this covers that path too.
    reply = client(tiny_server).embeddings.create(model="tiny-demo", input="the sea and the wind")
    [item] = reply.data
    assert item.object == "embedding" and item.index == 0
    assert len(item.embedding) == dims(tiny_server)
    assert math.isclose(math.sqrt(sum(x * x for x in item.embedding)), 1.0, rel_tol=1e-4)
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens
    assert reply.model == "tiny-demo"


def test_base64_is_little_endian_float32_of_the_same_vector(tiny_server: ModelServer) -> None:
    [as_floats] = floats(tiny_server, input="hello there", encoding_format="float")
    r = tiny_server.post("/v1/embeddings", {"input": "hello there", "encoding_format": "base64"})
    body = r.json()
    raw = base64.b64decode(body["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    # What the SDK does with base64: decode, then the typed response must hold.
    body["data"][0]["embedding"] = list(decoded)
    CreateEmbeddingResponse.model_validate(body)
    assert len(decoded) == len(as_floats)
    assert all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(decoded, as_floats, strict=True))


def test_batches_keep_order_and_match_single_requests(tiny_server: ModelServer) -> None:
    texts = ["one two three", "a much longer sentence about the quick brown fox", "x"]
    together = floats(tiny_server, input=texts)
    assert len(together) == 3
    for text, vector in zip(texts, together, strict=True):
        [alone] = floats(tiny_server, input=text)
        assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(alone, vector, strict=True))
    similarity = sum(a * b for a, b in zip(together[0], together[1], strict=True))
    assert similarity < 0.9999, "different texts must not embed identically"


def test_token_arrays_embed_like_their_text(tiny_server: ModelServer, model_cache: Path) -> None:
    from transformers import AutoTokenizer

    [model_dir] = model_cache.glob("tiny-gpt2-*")
    ids = AutoTokenizer.from_pretrained(str(model_dir))("the quick brown fox")["input_ids"]
    [text_vector] = floats(tiny_server, input="the quick brown fox")
    [flat] = floats(tiny_server, input=ids)
    [nested, other] = floats(tiny_server, input=[ids, ids[:1]])
    for vector in (flat, nested):
        assert all(
            math.isclose(a, b, abs_tol=1e-4) for a, b in zip(vector, text_vector, strict=True)
        )
    assert other != flat


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hi", "dimensions": 7}, "dimensions"),
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": [[10**7]]}, "input"),
        ({"input": "hi", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_bad_embedding_requests_name_the_param(
    tiny_server: ModelServer, body: dict, param: str
) -> None:
    r = tiny_server.post("/v1/embeddings", body)
    assert r.status_code in (400, 422)
    assert r.json()["error"]["param"] == param
    with pytest.raises(openai.APIStatusError):
        client(tiny_server).embeddings.create(model="tiny-demo", **body)  # type: ignore[arg-type]


def test_native_dimensions_are_accepted(tiny_server: ModelServer) -> None:
    [vector] = floats(tiny_server, input="hi", dimensions=dims(tiny_server))
    assert len(vector) == dims(tiny_server)
