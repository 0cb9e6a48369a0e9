"""Google Gemini over HTTP: `{base}/v1beta/models/{model}:generateContent`, `x-goog-api-key`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from router.translate import gemini as translate
from router.upstream.credentials import ProviderAccess
from router.upstream.ratelimit_headers import header_retry_after, parse_duration


class GeminiProtocol:
    provider = "gemini"
    # Gemini takes inline bytes (or its own file store), not arbitrary URLs.
    needs_image_bytes = True

    def build(
        self, access: ProviderAccess, model: str, body: dict[str, Any], stream: bool
    ) -> tuple[str, dict[str, str], bytes]:
        request = translate.to_request(body)
        name = quote(model.removeprefix("models/"), safe="-._")
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {"content-type": "application/json"}
        if access.api_key:
            headers["x-goog-api-key"] = access.api_key
        url = f"{access.base_url}/v1beta/models/{name}:{action}"
        return url, headers, orjson.dumps(request)

    def translate(self, obj: dict[str, Any], model: str) -> dict[str, Any]:
        if "candidates" not in obj and "promptFeedback" not in obj:
            raise ValueError("not a GenerateContentResponse")
        return translate.from_response(obj, model)

    def stream(self, model: str) -> translate.StreamTranslator:
        return translate.StreamTranslator(model)

    def retry_after(self, headers: Mapping[str, str], body: bytes) -> float | None:
        """Retry-After, else the `RetryInfo.retryDelay` Google puts in the error details."""
        found = header_retry_after(headers)
        if found is not None:
            return found
        try:
            details = orjson.loads(body).get("error", {}).get("details") or []
        except (orjson.JSONDecodeError, AttributeError):
            return None
        for detail in details:
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
                return parse_duration(str(detail.get("retryDelay", "")))
        return None
