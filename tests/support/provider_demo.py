"""The issue's "must show", runnable against any MotherFluxer:
`python -m tests.support.provider_demo --base-url http://127.0.0.1:8186/v1 --api-key KEY
--model claude-4-sonnet`.

With the unchanged `openai` SDK: a chat completion, a stream, a `tool_calls` answer with parsed
arguments (buffered and streamed), a `parse()`d structured answer, and a 400 naming `tools`
for a model without tool support (`--plain-model`). Exits non-zero on the first miss.
"""

from __future__ import annotations

import argparse
import json

import openai
from pydantic import BaseModel

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}


class Trip(BaseModel):
    city: str
    days: int
    sights: list[str]


def run(client: openai.OpenAI, model: str, plain: str | None) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello"}]
    )
    r = raw.parse()
    print(f"chat:     [{raw.headers['x-motherfluxer-model']}] {r.choices[0].message.content!r}")
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Stream a line"}], stream=True
        )
        if c.choices
    )
    assert text, "empty stream"
    print(f"stream:   {text!r}")
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather in Lima?"}], tools=[WEATHER]
    )
    call = r.choices[0].message.tool_calls[0]
    print(f"tools:    {call.function.name}({json.loads(call.function.arguments)})")
    parts: dict[int, str] = {}
    for chunk in client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Weather in Lima?"}],
        tools=[WEATHER],
        tool_choice="required",
        stream=True,
    ):
        for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            parts[d.index] = parts.get(d.index, "") + (d.function.arguments or "")
    print(f"streamed: get_weather({json.loads(parts[0])}) from {len(parts)} call(s)")
    parsed = (
        client.chat.completions.parse(
            model=model, messages=[{"role": "user", "content": "Plan a trip"}], response_format=Trip
        )
        .choices[0]
        .message.parsed
    )
    assert isinstance(parsed, Trip)
    print(f"parse():  {parsed!r}")
    if plain:
        try:
            client.chat.completions.create(
                model=plain, messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
            )
        except openai.BadRequestError as exc:
            print(f"no tools: {exc.status_code} param={exc.param!r} {exc.message!r}")
        else:
            raise AssertionError(f"{plain} accepted tools")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--plain-model")
    args = parser.parse_args()
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    for model in args.model:
        print(f"== {model}")
        run(client, model, args.plain_model)


if __name__ == "__main__":
    main()
