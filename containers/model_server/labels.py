"""ASGI middleware: labels every response with the model it came from, counts requests."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_server.state import ServerState

KNOWN_PATHS = {
    "/ping",
    "/invocations",
    "/health",
    "/metrics",
    "/v1/models",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
}


class ServerHeaders:
    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in KNOWN_PATHS else "other"
        status = [500]

        async def labelled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-model-name"] = self.state.settings.served_model_name
                headers["x-model-version"] = self.state.settings.model_version
                if self.state.demo:
                    headers["x-model-demo"] = "true"
            await send(message)

        try:
            await self.app(scope, receive, labelled_send)
        finally:
            self.state.metrics.count_request(endpoint, status[0])
