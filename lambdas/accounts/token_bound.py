"""An upper bound on the tokens a request can be billed, for the budget reservation.

A reservation that can be beaten lets concurrent requests overspend a budget (characters / 4
let 120 emoji, billed about 500 tokens, reserve 30). The bound here cannot be beaten by any
byte-level BPE tokenizer (GPT-2, tiktoken's encodings, Llama 3, the local tiny models): every
token covers at least one UTF-8 byte, so a text never has more tokens than bytes. SentencePiece
models with byte fallback stay within bytes plus one per text, which the per-message overhead
covers. On top of the text come the chat template's markers, per message and per request, and
images, which are billed per image rather than per byte of their URL.

The output side is the granted `max_tokens` (the tier's clamp or the model's maximum output)
times the number of choices asked for (`n`, `best_of`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

# Template markers around one message (`<|user|>\n…\n`, `<|start_header_id|>…<|eot_id|>`),
# beyond the bytes of the role name itself, which are counted as text.
MESSAGE_OVERHEAD_TOKENS = 8
# Once per request: the generation prompt (`<|assistant|>\n`), BOS, OpenAI's reply priming.
REQUEST_OVERHEAD_TOKENS = 16
# The most any supported provider bills for one image (Anthropic: about 1,600 for a full-size
# image; OpenAI high detail: at most 1,105 for gpt-4o-class models).
IMAGE_TOKENS_BOUND = 1_600
# Prompt-side fields whose whole JSON is sent to the model (definitions count as prompt).
_STRUCTURED_FIELDS = ("tools", "functions", "tool_choice", "response_format")
_TEXT_FIELDS = ("prompt", "suffix", "system", "instructions", "input")
_IMAGE_PART_TYPES = frozenset({"image_url", "input_image", "image"})


def _utf8_len(value: str) -> int:
    # surrogatepass: a lone surrogate from a JSON escape still counts, and never raises here.
    return len(value.encode("utf-8", "surrogatepass"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def _part_tokens(part: Any) -> int:
    if isinstance(part, Mapping) and part.get("type") in _IMAGE_PART_TYPES:
        return IMAGE_TOKENS_BOUND
    return sum(_utf8_len(s) for s in _strings(part))


def _message_tokens(message: Any, overhead: int) -> int:
    if not isinstance(message, Mapping):
        return overhead + sum(_utf8_len(s) for s in _strings(message))
    total = overhead
    for key, value in message.items():
        if key == "content" and isinstance(value, list):
            total += sum(_part_tokens(p) for p in value)
        elif key != "content" or value is not None:
            total += sum(_utf8_len(s) for s in _strings(value))
    return total


def prompt_token_bound(
    body: Mapping[str, Any],
    message_overhead: int = MESSAGE_OVERHEAD_TOKENS,
    request_overhead: int = REQUEST_OVERHEAD_TOKENS,
) -> int:
    """Most prompt tokens any supported tokenizer can count for this request body."""
    total = request_overhead
    messages = body.get("messages")
    if isinstance(messages, list):
        total += sum(_message_tokens(m, message_overhead) for m in messages)
    for name in _TEXT_FIELDS:
        value = body.get(name)
        if value is not None:
            total += message_overhead + sum(_part_tokens(p) for p in _as_list(value))
    for name in _STRUCTURED_FIELDS:
        value = body.get(name)
        if value is not None:
            total += len(orjson.dumps(value, default=str))
    return total


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def choices(body: Mapping[str, Any]) -> int:
    """How many completions the body asks for (each may use the whole `max_tokens`)."""
    most = 1
    for name in ("n", "best_of"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > most:
            most = value
    return most
