"""OpenAI-compatible providers (OpenAI, DeepSeek, MiniMax, Azure OpenAI) over the OpenAI client.

The body passes through unchanged; only the address and key differ. Azure puts the
deployment in the path, wants `api-version` in the query and the key in an `api-key` header.
OpenAI-style base URLs end in `/v1`, so the dispatcher's `/v1/...` path loses that prefix.
"""

from __future__ import annotations

import dataclasses

from router.upstream.base import BufferedReply, StreamReply, Timeouts
from router.upstream.credentials import Credentials
from router.upstream.openai_http import OpenAIHTTPClient
from router.upstream.reply_failures import resolve_access
from routing.instances import Instance

AZURE_API_VERSION = "2024-10-21"


class OpenAICompatibleClient:
    def __init__(self, credentials: Credentials, *, azure: bool = False) -> None:
        self._credentials = credentials
        self._azure = azure
        self._http = OpenAIHTTPClient()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        instance: Instance,
        path: str,
        payload: bytes,
        *,
        stream: bool,
        timeouts: Timeouts,
    ) -> BufferedReply | StreamReply:
        provider = instance.tags.get("provider", "openai")
        access = resolve_access(self._credentials, provider, instance)
        tail = path.removeprefix("/v1")
        headers: dict[str, str] = {}
        if self._azure:
            deployment = instance.tags.get("upstream_model", instance.model)
            version = instance.tags.get("api_version", AZURE_API_VERSION)
            tail = f"/openai/deployments/{deployment}{tail}?api-version={version}"
            if access.api_key:
                headers["api-key"] = access.api_key
        elif access.api_key:
            headers["Authorization"] = f"Bearer {access.api_key}"
        target = dataclasses.replace(instance, endpoint=access.base_url)
        return await self._http.send(
            target, tail, payload, stream=stream, timeouts=timeouts, extra_headers=headers
        )
