"""OpenAI chat/completions <-> Gemini `generateContent` / `streamGenerateContent?alt=sse`.

Turns become `contents` of `parts` (role `model` for the assistant), the system prompt is
`systemInstruction`, tools are `functionDeclarations` and results `functionResponse` parts
(which carry the function's name, so it is looked up from the earlier call). Structured
output is native: `responseMimeType` plus a `responseSchema`, converted from JSON Schema to
Gemini's OpenAPI subset. Images must be bytes (`inlineData`); the client fetches https ones.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from router.translate.common import (
    ChunkWriter,
    ImageRef,
    TranslationError,
    append_turn,
    completion,
    content_parts,
    function_tools,
    max_tokens_of,
    new_id,
    response_schema,
    stop_list,
    text_of,
    tool_call,
    tool_names_by_id,
    usage_obj,
)

FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# JSON Schema keywords Gemini's Schema object understands (others are dropped).
_SCHEMA_KEYS = {
    "type", "format", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "items", "anyOf", "minimum", "maximum", "title", "propertyOrdering",
    "minLength", "maxLength", "pattern", "minProperties", "maxProperties",
}  # fmt: skip


def gemini_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON Schema (as pydantic and the OpenAI SDK write it) -> Gemini's Schema subset."""
    root = root if root is not None else schema
    if "$ref" in schema:
        node: Any = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            node = node[part]
        merged = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        return gemini_schema(merged, root)
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        out["nullable"] = len(types) < len(kind)
        kind = types[0] if types else "string"
    if kind:
        out["type"] = str(kind).upper()
    if "const" in schema:
        out["enum"] = [schema["const"]]
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS or key == "type":
            continue
        if key == "properties":
            out[key] = {n: gemini_schema(s, root) for n, s in value.items()}
        elif key == "items":
            out[key] = gemini_schema(value, root)
        elif key == "anyOf":
            variants = [v for v in value if v.get("type") != "null"]
            if len(variants) < len(value):
                out["nullable"] = True
            if len(variants) == 1:
                out.update(gemini_schema(variants[0], root))
            else:
                out[key] = [gemini_schema(v, root) for v in variants]
        else:
            out[key] = value
    if out.get("type") == "OBJECT" and "properties" in out:
        out["propertyOrdering"] = list(out["properties"])
    return out


def _inline_image(ref: ImageRef) -> dict[str, Any]:
    if ref.data is None:
        raise TranslationError("Gemini needs image bytes; the URL was not fetched", ref.param)
    return {"inlineData": {"mimeType": ref.media_type, "data": base64.b64encode(ref.data).decode()}}


def _parts(content: Any, param: str) -> list[dict[str, Any]]:
    return content_parts(content, param, lambda t: {"text": t}, _inline_image)


def _tool_response(content: Any) -> dict[str, Any]:
    text = text_of(content)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"result": text}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict]]:
    names = tool_names_by_id(messages)
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []

    for i, msg in enumerate(messages):
        role = msg.get("role")
        param = f"messages[{i}].content"
        if role in ("system", "developer"):
            if text := text_of(msg.get("content")):
                system.append({"text": text})
        elif role == "user":
            append_turn(contents, "user", _parts(msg.get("content"), param), key="parts")
        elif role == "assistant":
            parts = _parts(msg.get("content"), param)
            for k, call in enumerate(msg.get("tool_calls") or []):
                fn = call.get("function") or {}
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    raise TranslationError(
                        "tool call arguments are not JSON", f"messages[{i}].tool_calls[{k}]"
                    ) from None
                parts.append({"functionCall": {"name": fn.get("name"), "args": args}})
            append_turn(contents, "model", parts, key="parts")
        elif role == "tool":
            name = names.get(str(msg.get("tool_call_id")))
            if name is None:
                raise TranslationError(
                    "tool message answers no earlier tool call", f"messages[{i}].tool_call_id"
                )
            response = {"name": name, "response": _tool_response(msg.get("content"))}
            append_turn(contents, "user", [{"functionResponse": response}], key="parts")
        else:
            raise TranslationError(f"role {role!r} is not supported", f"messages[{i}].role")
    return system, contents


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice in ("auto", "required", "none"):
        mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        name = choice["function"]["name"]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise TranslationError("tool_choice is not understood", "tool_choice")


def to_request(body: dict[str, Any]) -> dict[str, Any]:
    system, contents = _contents(list(body.get("messages") or []))
    req: dict[str, Any] = {"contents": contents}
    if system:
        req["systemInstruction"] = {"parts": system}
    gen: dict[str, Any] = {"maxOutputTokens": max_tokens_of(body)}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(ours) is not None:
            gen[theirs] = body[ours]
    if stops := stop_list(body):
        gen["stopSequences"] = stops
    if isinstance(body.get("n"), int) and body["n"] > 1:
        gen["candidateCount"] = body["n"]
    fmt = response_schema(body)
    if fmt is not None:
        gen["responseMimeType"] = "application/json"
        if (body.get("response_format") or {}).get("type") == "json_schema":
            gen["responseSchema"] = gemini_schema(fmt[1])
    req["generationConfig"] = gen
    declarations = [
        {
            "name": fn["name"],
            "description": fn.get("description") or "",
            **({"parameters": gemini_schema(fn["parameters"])} if fn.get("parameters") else {}),
        }
        for fn in function_tools(body)
    ]
    if declarations:
        req["tools"] = [{"functionDeclarations": declarations}]
        if config := _tool_config(body.get("tool_choice")):
            req["toolConfig"] = config
    return req


def _usage(meta: dict[str, Any]) -> dict[str, Any]:
    completion_tokens = int(meta.get("candidatesTokenCount") or 0) + int(
        meta.get("thoughtsTokenCount") or 0
    )
    # cachedContentTokenCount is already inside promptTokenCount.
    return usage_obj(
        int(meta.get("promptTokenCount") or 0),
        completion_tokens,
        int(meta.get("cachedContentTokenCount") or 0),
    )


def _split(parts: list[dict[str, Any]]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    texts, calls = [], []
    for part in parts:
        if part.get("thought"):
            continue
        if "text" in part:
            texts.append(part["text"])
        elif "functionCall" in part:
            call = part["functionCall"]
            calls.append((str(call.get("name")), call.get("args") or {}))
    return "".join(texts), calls


def _finish(reason: str | None, has_calls: bool) -> str:
    finish = FINISH.get(reason or "STOP", "stop")
    return "tool_calls" if has_calls and finish == "stop" else finish


def from_response(obj: dict[str, Any], model: str) -> dict[str, Any]:
    candidates = obj.get("candidates") or []
    usage = _usage(obj.get("usageMetadata") or {})
    if not candidates:
        # The prompt itself was blocked (promptFeedback.blockReason).
        return completion(
            model, content="", tool_calls=[], finish_reason="content_filter", usage=usage
        )
    first = candidates[0]
    text, calls = _split((first.get("content") or {}).get("parts") or [])
    tool_calls = [
        tool_call(new_id("call"), name, orjson.dumps(args).decode()) for name, args in calls
    ]
    result = completion(
        model,
        content=text if text or not tool_calls else None,
        tool_calls=tool_calls,
        finish_reason=_finish(first.get("finishReason"), bool(tool_calls)),
        usage=usage,
        response_id=obj.get("responseId"),
    )
    for extra in candidates[1:]:
        more, _ = _split((extra.get("content") or {}).get("parts") or [])
        result["choices"].append(
            {
                "index": len(result["choices"]),
                "message": {"role": "assistant", "content": more},
                "finish_reason": _finish(extra.get("finishReason"), False),
                "logprobs": None,
            }
        )
    return result


class StreamTranslator:
    """Each SSE chunk is a whole GenerateContentResponse; the one with finishReason ends it."""

    def __init__(self, model: str) -> None:
        self.out = ChunkWriter(model)
        self.done = False
        self._started = False
        self._calls = 0
        self._usage: dict[str, Any] = {}

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        if not self._started:
            self._started = True
            chunks.append(self.out.chunk({"role": "assistant", "content": ""}))
        self._usage.update(data.get("usageMetadata") or {})
        candidates = data.get("candidates") or []
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                chunks.append(self.out.chunk({}, finish_reason="content_filter"))
                chunks.append(self.out.usage(_usage(self._usage)))
                self.done = True
            return chunks
        first = candidates[0]
        text, calls = _split((first.get("content") or {}).get("parts") or [])
        if text:
            chunks.append(self.out.chunk({"content": text}))
        for name, args in calls:
            call = tool_call(new_id("call"), name, orjson.dumps(args).decode())
            chunks.append(self.out.chunk({"tool_calls": [{"index": self._calls, **call}]}))
            self._calls += 1
        if first.get("finishReason"):
            finish = _finish(first["finishReason"], self._calls > 0)
            chunks.append(self.out.chunk({}, finish_reason=finish))
            chunks.append(self.out.usage(_usage(self._usage)))
            self.done = True
        return chunks
