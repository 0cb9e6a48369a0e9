#!/bin/sh
# Lambda Web Adapter entry: LWA starts this, waits for /health, then relays (and streams) events.
exec python -m router.main --host 127.0.0.1 --port "${PORT:-8000}"
