"""Lambda entry point for buffered routes (API Gateway HTTP API -> Mangum).

Mangum buffers the whole response, so streamed completions go to the Lambda Web Adapter
function instead (see router.lambda_web). Importing this module costs almost nothing: the app
is built on the first invocation, except under SnapStart, where it is built during the
snapshot's init phase so that restored environments start with it ready.
"""

from __future__ import annotations

import os
from typing import Any

_handler: Any = None


def _build() -> Any:
    from mangum import Mangum

    from router.app import ensure_started
    from router.main import build_app

    app = build_app()
    ensure_started(app)
    # Lifespan off: Mangum would otherwise start and stop the app on every invocation.
    return Mangum(app, lifespan="off", api_gateway_base_path="/")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _handler
    if _handler is None:
        _handler = _build()
    return _handler(event, context)


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    _handler = _build()
