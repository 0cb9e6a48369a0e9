"""The ingress protocols on the local stack's tiny model, with the SDKs unchanged.

The tiny model's answers are noise, so these tests check shapes (strictly, against the SDKs'
types) and the accounting around them, not the words.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import orjson
import pytest
from anthropic.types import Message
from openai.types.responses import Response, ResponseStreamEvent

from devstack.procs import free_port
from devstack.stack import EmbeddedStack, StackOptions
from tests.ingress.strict import strict

MODEL = "tiny-chat"


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    # Not tmp_path_factory: concurrent pytest runs on this machine rotate its numbered dirs
    # away, live database directory included.
    data_dir = Path(tempfile.mkdtemp(prefix="mf-ingress-stack-"))
    options = StackOptions(
        data_dir=data_dir,
        port=free_port(),
        models=[MODEL],
        instances_per_model=1,
        health_interval_s=1.0,
    )
    try:
        with EmbeddedStack(options) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _headers(stack: EmbeddedStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


def test_openai_responses_plain_and_streamed(stack: EmbeddedStack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=stack.api_key, max_retries=0)
    raw = httpx.post(
        stack.url + "/v1/responses",
        json={"model": MODEL, "input": "Say hi", "max_output_tokens": 8},
        headers=_headers(stack),
        timeout=60,
    )
    resp = strict(Response, raw.json())
    assert resp.usage is not None and resp.usage.output_tokens > 0
    assert raw.headers["x-motherfluxer-instance"]
    with httpx.stream(
        "POST",
        stack.url + "/v1/responses",
        json={"model": MODEL, "input": "Stream", "max_output_tokens": 8, "stream": True},
        headers=_headers(stack),
        timeout=60,
    ) as streamed:
        events = [
            strict(ResponseStreamEvent, orjson.loads(line[6:]))
            for line in streamed.iter_lines()
            if line.startswith("data: ")
        ]
    assert events[0].type == "response.created"
    assert events[-1].type in ("response.completed", "response.incomplete")
    assert events[-1].response.usage is not None
    assert client.models.retrieve(MODEL.upper()).id == MODEL


def test_anthropic_messages_create_and_stream(stack: EmbeddedStack) -> None:
    client = anthropic.Anthropic(base_url=stack.url, api_key=stack.api_key, max_retries=0)
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "Hello"}]
    )
    msg = strict(Message, raw.http_response.json())
    assert msg.usage.output_tokens > 0 and msg.stop_reason in ("end_turn", "max_tokens")
    with client.messages.stream(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "Stream"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content and final.content[0].type == "text" and final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_usage_of_ingress_calls_reaches_the_ledger(stack: EmbeddedStack) -> None:
    def ledger_rows() -> int:
        return len(httpx.get(stack.url + "/v1/usage", headers=_headers(stack)).json()["data"])

    before = ledger_rows()
    client = anthropic.Anthropic(base_url=stack.url, api_key=stack.api_key, max_retries=0)
    client.messages.create(model=MODEL, max_tokens=4, messages=[{"role": "user", "content": "x"}])
    deadline = time.monotonic() + 20
    while ledger_rows() <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ledger_rows() > before
