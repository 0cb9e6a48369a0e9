"""`motherfluxer chat`: a streamed answer, then the route card from the response headers."""

from __future__ import annotations

import sys
import time
from typing import Any

from motherfluxer_cli.client import ApiError, Client

CARD = (
    ("model", "x-motherfluxer-model"),
    ("version", "x-motherfluxer-version"),
    ("instance", "x-motherfluxer-instance"),
    ("task", "x-motherfluxer-task"),
    ("reason", "x-motherfluxer-route-reason"),
    ("overhead_ms", "x-motherfluxer-overhead-ms"),
    ("attempts", "x-motherfluxer-attempts"),
    ("cost_usd", "x-motherfluxer-cost-usd"),
    ("cache", "x-motherfluxer-cache"),
    ("request_id", "x-request-id"),
)


def request_for(
    prompt: str, model: str | None, preferred: str | None, fallback: str, max_tokens: int
) -> tuple[str, dict[str, Any], str]:
    """(path, body, where the text sits in each event) for seed 003's three modes."""
    if preferred:
        fb: Any = fallback if fallback in ("auto", "none") else fallback.split(",")
        body = {
            "prompt": prompt,
            "preferred_model": preferred,
            "fallback_mode": fb,
            "max_length": max_tokens,
            "stream": True,
        }
        return "/inference", body, "text"
    body = {
        "model": model or "auto",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
    }
    return "/v1/chat/completions", body, "delta"


def _text(event: dict[str, Any], kind: str) -> str:
    choices = event.get("choices") or []
    if not choices:
        return ""
    if kind == "text":
        return choices[0].get("text") or ""
    return (choices[0].get("delta") or {}).get("content") or ""


def _settled_cost(client: Client, request_id: str | None) -> str | None:
    """A stream's cost is settled after it ends; a key holder's ledger has it."""
    if not request_id:
        return None
    for _ in range(10):
        try:
            rows = client.get("/v1/usage").get("data", [])
        except ApiError:
            return None
        for row in rows:
            if row.get("request_id") == request_id:
                return str(row.get("cost_usd"))
        time.sleep(0.3)
    return None


def run_chat(client: Client, path: str, body: dict[str, Any], kind: str, quiet: bool) -> dict:
    headers, events = client.stream(path, body)
    text = []
    for event in events:
        piece = _text(event, kind)
        if piece:
            text.append(piece)
            if not quiet:
                sys.stdout.write(piece)
                sys.stdout.flush()
    if not quiet:
        sys.stdout.write("\n")
    card = {name: headers.get(header) for name, header in CARD}
    if card["cost_usd"] is None:
        card["cost_usd"] = _settled_cost(client, card["request_id"])
    if card["cache"] is None:
        card["cache"] = "not cached (stream)"
    return {"text": "".join(text), "route": card}
