"""The limited httptools protocol by import path, for uvicorn's worker processes.

With `--workers`, uvicorn starts each worker in a fresh interpreter and can only hand it the
protocol as an import string; each worker then reads the same limits from the environment.
"""

from __future__ import annotations

from router.http_errors import json_bad_request_httptools
from router.server_limits import GuardedHttpToolsProtocol, ServerLimits


class EnvLimitedHttpTools(json_bad_request_httptools(GuardedHttpToolsProtocol)):  # type: ignore[misc]
    limits = ServerLimits.from_env()
