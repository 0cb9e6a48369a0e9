"""ASGI app for Lambda Web Adapter (response streaming) and for uvicorn locally."""

from __future__ import annotations

from router.main import build_app

app = build_app()
