"""Which client serves an external instance: one registry from provider name to wire protocol.

External instances (`kind="external"`) carry their provider in `tags["provider"]`; this client
hands each request to the translator-backed client of that provider's protocol, built on first
use, so the dispatcher sees one `UpstreamClient` for every provider.
"""

from __future__ import annotations

from collections.abc import Callable

from router.upstream.base import (
    CONN_REFUSED,
    BufferedReply,
    StreamReply,
    Timeouts,
    UpstreamClient,
    UpstreamFailure,
)
from router.upstream.credentials import Credentials, canonical
from router.upstream.images import ImageFetcher
from routing.instances import Instance

# provider -> wire protocol
PROTOCOLS: dict[str, str] = {
    "openai": "openai",
    "deepseek": "openai",
    "minimax": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "bedrock": "bedrock",
}


def protocol_for(provider: str) -> str | None:
    """The wire protocol of a provider name as the catalog spells it (None if unknown)."""
    return PROTOCOLS.get(canonical(provider))


def _build(protocol: str, credentials: Credentials, images: ImageFetcher) -> UpstreamClient:
    if protocol == "anthropic":
        from router.upstream.anthropic import AnthropicProtocol
        from router.upstream.provider_http import TranslatingHTTPClient

        return TranslatingHTTPClient(AnthropicProtocol(), credentials, images)
    if protocol == "gemini":
        from router.upstream.gemini import GeminiProtocol
        from router.upstream.provider_http import TranslatingHTTPClient

        return TranslatingHTTPClient(GeminiProtocol(), credentials, images)
    if protocol == "bedrock":
        from router.upstream.bedrock import BedrockClient

        return BedrockClient(images=images)
    from router.upstream.openai_compat import OpenAICompatibleClient

    return OpenAICompatibleClient(credentials, azure=protocol == "azure")


class ExternalProviders:
    """The `external` instance kind: routes each send to its provider's protocol client."""

    def __init__(
        self,
        credentials: Credentials | None = None,
        images: ImageFetcher | None = None,
        build: Callable[[str, Credentials, ImageFetcher], UpstreamClient] = _build,
    ) -> None:
        self._credentials = credentials or Credentials()
        self._images = images or ImageFetcher()
        self._build = build
        self._clients: dict[str, UpstreamClient] = {}

    def client(self, provider: str) -> UpstreamClient | None:
        protocol = protocol_for(provider)
        if protocol is None:
            return None
        if protocol not in self._clients:
            self._clients[protocol] = self._build(protocol, self._credentials, self._images)
        return self._clients[protocol]

    async def send(
        self,
        instance: Instance,
        path: str,
        payload: bytes,
        *,
        stream: bool,
        timeouts: Timeouts,
    ) -> BufferedReply | StreamReply:
        client = self.client(instance.tags.get("provider", ""))
        if client is None:
            raise UpstreamFailure(CONN_REFUSED, "no client for this provider")
        return await client.send(instance, path, payload, stream=stream, timeouts=timeouts)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        await self._images.aclose()
