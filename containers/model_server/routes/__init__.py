"""HTTP routes, one module per endpoint family."""

from __future__ import annotations

from fastapi import Request

from model_server.state import ServerState


def server_of(request: Request) -> ServerState:
    return request.app.state.server
