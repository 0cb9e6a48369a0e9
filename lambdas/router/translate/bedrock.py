"""OpenAI chat/completions <-> Amazon Bedrock Converse / ConverseStream (boto3 shapes).

Converse wants alternating user/assistant turns of content blocks, the system prompt apart,
`toolConfig` for tools (a `toolResult` answers a `toolUse` of the turn before) and images as
raw bytes. `response_format` becomes a forced tool, as for Anthropic. Stream events arrive as
boto3 dicts (`messageStart`, `contentBlockStart/Delta/Stop`, `messageStop`, `metadata`).
"""

from __future__ import annotations

from typing import Any

from router.translate.common import (
    FORMAT_TOOL,
    ImageRef,
    ToolCallStream,
    TranslationError,
    add_tool_use,
    answer,
    append_turn,
    content_parts,
    function_tools,
    max_tokens_of,
    parse_arguments,
    response_schema,
    stop_list,
    text_of,
    usage_obj,
)

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _image_block(ref: ImageRef) -> dict[str, Any]:
    if ref.data is None:
        raise TranslationError("Bedrock needs image bytes; the URL was not fetched", ref.param)
    fmt = FORMATS.get(ref.media_type or "")
    if fmt is None:
        raise TranslationError(f"image type {ref.media_type} is not supported", ref.param)
    return {"image": {"format": fmt, "source": {"bytes": ref.data}}}


def _blocks(content: Any, param: str) -> list[dict[str, Any]]:
    return content_parts(content, param, lambda t: {"text": t}, _image_block)


def _turns(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    for i, msg in enumerate(messages):
        role = msg.get("role")
        param = f"messages[{i}].content"
        if role in ("system", "developer"):
            if text := text_of(msg.get("content")):
                system.append({"text": text})
        elif role == "user":
            append_turn(turns, "user", _blocks(msg.get("content"), param))
        elif role == "assistant":
            blocks = _blocks(msg.get("content"), param)
            for k, call in enumerate(msg.get("tool_calls") or []):
                fn = call.get("function") or {}
                args = parse_arguments(fn.get("arguments"), f"messages[{i}].tool_calls[{k}]")
                blocks.append(
                    {
                        "toolUse": {
                            "toolUseId": call.get("id"),
                            "name": fn.get("name"),
                            "input": args,
                        }
                    }
                )
            append_turn(turns, "assistant", blocks)
        elif role == "tool":
            result = {
                "toolUseId": msg.get("tool_call_id"),
                "content": [{"text": text_of(msg.get("content")) or "(empty)"}],
            }
            append_turn(turns, "user", [{"toolResult": result}])
        else:
            raise TranslationError(f"role {role!r} is not supported", f"messages[{i}].role")
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"text": "(continue)"}]})
    return system, turns


def to_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """Keyword arguments for boto3 `converse` / `converse_stream`."""
    system, turns = _turns(list(body.get("messages") or []))
    req: dict[str, Any] = {"modelId": model, "messages": turns}
    if system:
        req["system"] = system
    config: dict[str, Any] = {"maxTokens": max_tokens_of(body)}
    if body.get("temperature") is not None:
        config["temperature"] = min(1.0, float(body["temperature"]))
    if body.get("top_p") is not None:
        config["topP"] = float(body["top_p"])
    if stops := stop_list(body):
        config["stopSequences"] = stops
    req["inferenceConfig"] = config
    tools = [
        {
            "toolSpec": {
                "name": fn["name"],
                "description": fn.get("description") or fn["name"],
                "inputSchema": {"json": fn.get("parameters") or {"type": "object"}},
            }
        }
        for fn in function_tools(body)
    ]
    choice = body.get("tool_choice")
    tool_choice: dict[str, Any] | None = None
    if choice == "required":
        tool_choice = {"any": {}}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        tool_choice = {"tool": {"name": choice["function"]["name"]}}
    elif choice not in (None, "auto", "none"):
        raise TranslationError("tool_choice is not understood", "tool_choice")
    fmt = response_schema(body)
    if fmt is not None:
        tools.append(
            {
                "toolSpec": {
                    "name": FORMAT_TOOL,
                    "description": f"Answer as {fmt[0]}",
                    "inputSchema": {"json": fmt[1]},
                }
            }
        )
        if tool_choice is None:
            tool_choice = {"tool": {"name": FORMAT_TOOL}}
    uses_tools = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if choice == "none" and fmt is None and not uses_tools:
        tools = []
    if tools:
        req["toolConfig"] = {"tools": tools}
        if tool_choice is not None:
            req["toolConfig"]["toolChoice"] = tool_choice
    return req


def _usage(raw: dict[str, Any]) -> dict[str, Any]:
    read = int(raw.get("cacheReadInputTokens") or 0)
    written = int(raw.get("cacheWriteInputTokens") or 0)
    prompt = int(raw.get("inputTokens") or 0) + read + written
    return usage_obj(prompt, int(raw.get("outputTokens") or 0), read, written)


def from_response(resp: dict[str, Any], model: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in ((resp.get("output") or {}).get("message") or {}).get("content") or []:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            add_tool_use(texts, calls, use.get("toolUseId"), use.get("name"), use.get("input"))
    finish = FINISH.get(resp.get("stopReason") or "end_turn", "stop")
    return answer(model, texts, calls, finish, _usage(resp.get("usage") or {}))


class StreamTranslator(ToolCallStream):
    """ConverseStream events (boto3 dicts, one key each) in, OpenAI chunk dicts out."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.stopped = False

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if event == "messageStart":
            return [self.out.chunk({"role": "assistant", "content": ""})]
        if event == "contentBlockStart":
            use = (data.get("start") or {}).get("toolUse")
            if not use:
                return []
            index = int(data.get("contentBlockIndex", 0))
            return self.start_tool(index, use.get("toolUseId"), use.get("name"))
        if event == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta:
                return [self.out.chunk({"content": delta["text"]})]
            if "toolUse" in delta:
                piece = delta["toolUse"].get("input") or ""
                return self.tool_delta(int(data.get("contentBlockIndex", 0)), piece)
            return []
        if event == "messageStop":
            self.stopped = True
            return self.finish(FINISH.get(data.get("stopReason") or "end_turn", "stop"))
        if event == "metadata":
            self.done = True
            return [self.out.usage(_usage(data.get("usage") or {}))]
        return []
