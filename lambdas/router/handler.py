"""Lambda entry point for buffered routes (API Gateway HTTP API -> Mangum).

Mangum buffers the whole response, so streamed completions go to the Lambda Web Adapter
function instead (see router.lambda_web). Everything heavy is imported on the first
invocation, not at module import, to keep cold starts short.
"""

from __future__ import annotations

from typing import Any

_handler: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        from mangum import Mangum

        from router.app import ensure_started
        from router.main import build_app

        app = build_app()
        ensure_started(app)
        # Lifespan off: Mangum would otherwise start and stop the app on every invocation.
        _handler = Mangum(app, lifespan="off", api_gateway_base_path="/")
    return _handler(event, context)
