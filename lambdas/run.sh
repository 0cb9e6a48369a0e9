#!/bin/sh
# Lambda Web Adapter entry: LWA starts this, waits for /health, then relays (and streams) events.
exec python -m uvicorn router.lambda_web:app --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log
