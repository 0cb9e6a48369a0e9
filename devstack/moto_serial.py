"""moto's server, answering one request at a time.

DynamoDB applies each conditional write atomically, and MotherFluxer relies on that (single-use
registration tokens, breaker state guarded by `rev`). moto's backend takes no locks, so its
threaded server can interleave two check-and-write requests and accept both. Serving requests
one by one gives the local stack and the tests DynamoDB's per-item atomicity back.

Usage: python -m devstack.moto_serial --port 5000
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def serial_server(host: str = "127.0.0.1", port: int = 0) -> Any:
    return make_server(
        host,
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=MotoRequestHandler,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = serial_server(args.host, args.port)

    def stop(_signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever to return, so it must run on another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
