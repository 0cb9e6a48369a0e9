"""The local usage drainer in its own process, as the `usage_drainer` Lambda is in AWS.

The router only appends to the outbox; this process moves the records into PostgreSQL, so
the ledger's SQL work never competes with requests for the router's interpreter. The local
stack starts it before the router and stops it after, and it drains once more on SIGTERM.

Usage: python -m accounts.outbox_process  (reads MOTHERFLUXER_DATA_DIR and _DATABASE_URL)
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from accounts.usage import OutboxDrainer, OutboxSink
from contracts import env

log = logging.getLogger("motherfluxer.outbox")


def run(data_dir: str, database_url: str, interval_s: float, stop: threading.Event) -> None:
    outbox = OutboxSink(data_dir)
    drainer = OutboxDrainer(outbox, database_url)
    try:
        while not stop.is_set():
            _drain(drainer)
            stop.wait(interval_s)
        _drain(drainer)
    finally:
        drainer.close()
        outbox.close()


def _drain(drainer: OutboxDrainer) -> None:
    try:
        drainer.drain_once_sync()
    except Exception as exc:
        # The database may not be migrated or up yet; the records wait in the outbox.
        log.warning("usage outbox drain failed (%s); will retry", type(exc).__name__)


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(
        os.environ.get(env.DATA_DIR, ".local"),
        os.environ[env.DATABASE_URL],
        float(os.environ.get(env.OUTBOX_DRAIN_INTERVAL_S, "0.5")),
        stop,
    )


if __name__ == "__main__":
    main()
