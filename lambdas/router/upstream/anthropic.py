"""Anthropic Messages over HTTP: `POST {base}/v1/messages` with `x-api-key` and a version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.translate import anthropic as translate
from router.upstream.credentials import ProviderAccess
from router.upstream.ratelimit_headers import header_retry_after

API_VERSION = "2023-06-01"


class AnthropicProtocol:
    provider = "anthropic"
    # Messages takes image URLs itself; the router only forwards them.
    needs_image_bytes = False

    def build(
        self, access: ProviderAccess, model: str, body: dict[str, Any], stream: bool
    ) -> tuple[str, dict[str, str], bytes]:
        request = translate.to_request(body, model, stream=stream)
        headers = {
            "content-type": "application/json",
            "anthropic-version": API_VERSION,
            "accept": "text/event-stream" if stream else "application/json",
        }
        if access.api_key:
            headers["x-api-key"] = access.api_key
        return f"{access.base_url}/v1/messages", headers, orjson.dumps(request)

    def translate(self, obj: dict[str, Any], model: str) -> dict[str, Any]:
        if obj.get("type") != "message":
            raise ValueError("not a Messages reply")
        return translate.from_response(obj, model)

    def stream(self, model: str) -> translate.StreamTranslator:
        return translate.StreamTranslator(model)

    def retry_after(self, headers: Mapping[str, str], body: bytes) -> float | None:
        return header_retry_after(headers)
