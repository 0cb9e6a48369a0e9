"""CORS for the console's own origin only (in AWS the console is served from CloudFront at
`console.<domain>` and calls the API cross-origin). Without MOTHERFLUXER_CONSOLE_ORIGIN, no
CORS headers are sent at all, so no other site's scripts may read API responses."""

from __future__ import annotations

import os

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

# The route card reads these from every response, so the browser must be allowed to see them.
EXPOSED = [
    "x-request-id",
    "x-motherfluxer-model",
    "x-motherfluxer-version",
    "x-motherfluxer-instance",
    "x-motherfluxer-task",
    "x-motherfluxer-route-reason",
    "x-motherfluxer-overhead-ms",
    "x-motherfluxer-attempts",
    "x-motherfluxer-cost-usd",
    "x-motherfluxer-cache",
    "x-motherfluxer-conversation-id",
    "x-motherfluxer-conversation-saved",
    "x-motherfluxer-request-id",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "retry-after",
]


def install_cors(app: FastAPI, origins: str | None = None) -> None:
    raw = os.environ.get("MOTHERFLUXER_CONSOLE_ORIGIN", "") if origins is None else origins
    allowed = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    if not allowed:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=allowed,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["authorization", "content-type", "x-request-id"],
        expose_headers=EXPOSED,
        allow_credentials=False,
        max_age=600,
    )
