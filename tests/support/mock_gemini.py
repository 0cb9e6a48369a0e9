"""A strict Gemini API server on loopback (`generateContent`, `streamGenerateContent?alt=sse`).

It checks what the real API documents: a key (`x-goog-api-key` or `?key=`), known top-level
fields only, `contents` of role `user`/`model` whose parts hold exactly one of text,
inlineData (valid base64), functionCall or functionResponse (with a name),
`generationConfig` keys, and a `responseSchema` in Gemini's Schema subset (JSON Schema's
`additionalProperties` or `$ref` is refused, as the API does). Errors use Google's shape, a 429
carrying `RetryInfo.retryDelay`. Streams are SSE chunks, each a whole GenerateContentResponse,
the last with `finishReason` and `usageMetadata`.

Run: `python -m tests.support.mock_gemini --port 9200 --api-key gm-test`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from typing import Any

from aiohttp import web

from tests.support.mock_base import MockServer, MockState, Recorded, serve_forever, write_events
from tests.support.schema_sample import sample

TOP_LEVEL = {
    "contents", "systemInstruction", "tools", "toolConfig", "generationConfig",
    "safetySettings", "cachedContent", "labels",
}  # fmt: skip
GENERATION = {
    "maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "candidateCount",
    "responseMimeType", "responseSchema", "responseJsonSchema", "seed", "presencePenalty",
    "frequencyPenalty", "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities",
}  # fmt: skip
SCHEMA = {
    "type", "format", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "items", "anyOf", "minimum", "maximum", "title", "propertyOrdering",
    "minLength", "maxLength", "pattern", "minProperties", "maxProperties", "example", "default",
}  # fmt: skip
TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
PART_KINDS = ("text", "inlineData", "functionCall", "functionResponse", "fileData")


class Invalid(Exception):
    pass


def _error(status: int, message: str, retry: str | None = None) -> web.Response:
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}  # fmt: skip
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": names.get(status, "UNKNOWN"),
    }
    if retry:
        error["details"] = [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"}
        ]
    return web.json_response({"error": error}, status=status)


# Maps whose keys are the caller's own names, never field names to normalise.
_USER_KEYED = {"properties", "args", "response", "labels"}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def normalise(value: Any, user_keyed: bool = False) -> Any:
    """Proto JSON accepts both `snake_case` and `lowerCamelCase` field names: use one."""
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, sub in value.items():
        name = key if user_keyed or key.startswith("@") else camel(key)
        if user_keyed:
            out[name] = normalise(sub)
        elif name in ("args", "response", "labels"):
            out[name] = sub
        else:
            out[name] = normalise(sub, user_keyed=name in _USER_KEYED)
    return out


def check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise Invalid(f"{where}: schema must be an object")
    for key, value in schema.items():
        if key not in SCHEMA:
            raise Invalid(f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}'")
        if key == "type" and str(value).upper() not in TYPES:
            raise Invalid(f"{where}.type: invalid value {value!r}")
        if key == "properties":
            for name, sub in value.items():
                check_schema(sub, f"{where}.properties[{name}]")
        if key == "items":
            check_schema(value, f"{where}.items")
        if key == "anyOf":
            for k, sub in enumerate(value):
                check_schema(sub, f"{where}.anyOf[{k}]")


def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    for key in body:
        if key not in TOP_LEVEL:
            raise Invalid(
                f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
            )
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("contents is not specified")
    for i, content in enumerate(contents):
        if content.get("role", "user") not in ("user", "model"):
            raise Invalid(f"contents[{i}].role: Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Invalid(f"contents[{i}].parts: must not be empty")
        for k, part in enumerate(parts):
            kinds = [p for p in PART_KINDS if p in part]
            if len(kinds) != 1:
                raise Invalid(f"contents[{i}].parts[{k}]: exactly one data field is required")
            if "inlineData" in part:
                data = part["inlineData"]
                if not str(data.get("mimeType", "")).startswith("image/"):
                    raise Invalid(f"contents[{i}].parts[{k}].inlineData.mimeType: unsupported")
                try:
                    base64.b64decode(data.get("data") or "", validate=True)
                except (binascii.Error, ValueError):
                    raise Invalid(f"contents[{i}].parts[{k}].inlineData.data: bad base64") from None
            if "functionResponse" in part and not part["functionResponse"].get("name"):
                raise Invalid(f"contents[{i}].parts[{k}].functionResponse.name: required")
            if "functionCall" in part and content.get("role") != "model":
                raise Invalid(f"contents[{i}]: functionCall parts belong to role model")
    gen = body.get("generationConfig") or {}
    for key in gen:
        if key not in GENERATION:
            raise Invalid(f"Unknown name \"{key}\" at 'generation_config'")
    if "responseSchema" in gen:
        if gen.get("responseMimeType") != "application/json":
            raise Invalid("responseSchema requires responseMimeType application/json")
        check_schema(gen["responseSchema"], "generation_config.response_schema")
    for t, tool in enumerate(body.get("tools") or []):
        for d, decl in enumerate(tool.get("functionDeclarations") or []):
            if not decl.get("name"):
                raise Invalid(f"tools[{t}].function_declarations[{d}].name: required")
            if "parameters" in decl:
                check_schema(
                    decl["parameters"], f"tools[{t}].function_declarations[{d}].parameters"
                )
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    if mode is not None and mode not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise Invalid("tool_config.function_calling_config.mode: invalid value")


def answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    last = body["contents"][-1]["parts"]
    responses = [p["functionResponse"] for p in last if "functionResponse" in p]
    text = " ".join(p.get("text", "") for p in last if "text" in p)
    gen = body.get("generationConfig") or {}
    declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    mode = config.get("mode", "AUTO")
    if responses:
        quoted = "; ".join(json.dumps(r.get("response")) for r in responses)
        return [{"text": f"The tool said: {quoted}"}], "STOP"
    if declarations and mode != "NONE":
        allowed = config.get("allowedFunctionNames")
        pool = [d for d in declarations if not allowed or d["name"] in allowed]
        if mode == "ANY" or "tool" in text.lower() or "weather" in text.lower():
            chosen = (pool * 2)[:2] if "parallel" in text.lower() else pool[:1]
            return [
                {"functionCall": {"name": d["name"], "args": sample(d.get("parameters") or {})}}
                for d in chosen
            ], "STOP"
    if gen.get("responseMimeType") == "application/json":
        value = sample(gen["responseSchema"]) if "responseSchema" in gen else {"answer": text}
        return [{"text": json.dumps(value)}], "STOP"
    reply = f"Hello from the Gemini mock. You said: {text}".strip()
    words = reply.split(" ")
    limit = int(gen.get("maxOutputTokens") or 8192)
    if len(words) > limit:
        return [{"text": " ".join(words[:limit])}], "MAX_TOKENS"
    return [{"text": reply}], "STOP"


def _usage(body: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = len(json.dumps(body["contents"])) // 4 + 1
    out = max(1, len(json.dumps(parts)) // 4)
    return {
        "promptTokenCount": prompt,
        "candidatesTokenCount": out,
        "totalTokenCount": prompt + out,
    }


def _response(parts: list[dict[str, Any]], finish: str | None, usage: dict | None) -> dict:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-mock"}
    if usage:
        out["usageMetadata"] = usage
    return out


def stream_events(body: dict[str, Any], parts: list[dict[str, Any]], finish: str) -> list[bytes]:
    pieces: list[list[dict[str, Any]]] = []
    for part in parts:
        if "text" in part:
            words = part["text"].split(" ")
            third = max(1, len(words) // 3)
            for i in range(0, len(words), third):
                chunk = " ".join(words[i : i + third])
                pieces.append([{"text": chunk + (" " if i + third < len(words) else "")}])
        else:
            pieces.append([part])
    usage = _usage(body, parts)
    events = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        obj = _response(piece, finish if last else None, usage if last else None)
        events.append(f"data: {json.dumps(obj)}\r\n\r\n".encode())
    return events


class GeminiMock(MockServer):
    def __init__(self, api_key: str = "gm-test") -> None:
        self.api_key = api_key
        app = web.Application()
        # The REST API serves both versions; google-genai 3.x calls v1, the router v1beta.
        app.router.add_post("/v1beta/models/{call}", self._call)
        app.router.add_post("/v1/models/{call}", self._call)
        app.router.add_get("/v1beta/models", self._models)
        super().__init__(app, MockState())

    async def _models(self, request: web.Request) -> web.Response:
        if (request.headers.get("x-goog-api-key") or request.query.get("key")) != self.api_key:
            return _error(403, "API key not valid. Please pass a valid API key.")
        return web.json_response({"models": [{"name": "models/gemini-2.0-flash"}]})

    async def _call(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.state.requests.append(
            Recorded(request.path, dict(request.query), dict(request.headers), body)
        )
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key != self.api_key:
            return _error(403 if key else 401, "API key not valid. Please pass a valid API key.")
        model, _, method = request.match_info["call"].partition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model:
            return _error(404, f"method {method} not found")
        if isinstance(body, dict):
            body = normalise(body)
        try:
            validate(body)
        except Invalid as exc:
            return _error(400, str(exc))
        action = self.state.take()
        if "error" in action:
            return _error(int(action["error"]), "mock error", action.get("retry_after"))
        parts, finish = action.get("reply") or answer(body)
        if method == "streamGenerateContent":
            if request.query.get("alt") != "sse":
                return _error(400, "this mock streams only with alt=sse")
            return await write_events(request, stream_events(body, parts, finish), action)
        return web.json_response(_response(parts, finish, _usage(body, parts)))


def main() -> None:
    parser = argparse.ArgumentParser(description="strict Gemini API mock on loopback")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--api-key", default="gm-test")
    args = parser.parse_args()
    serve_forever(GeminiMock(args.api_key), args.port)


if __name__ == "__main__":
    main()
