"""Process entry point: uvicorn with one worker and a graceful, router-aware drain."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from types import FrameType

import uvicorn

from model_server.app import create_app
from model_server.config import Settings
from model_server.state import ServerState

log = logging.getLogger("model_server")


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: drain (ping 503, finish in-flight, deregister), then exit.

    uvicorn alone would close the listening socket at once, so the router and SageMaker would
    see refused connections instead of a not-ready answer while work finishes.
    """

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None:
            # A second signal means "now": fall back to uvicorn's own handling.
            self.force_exit = self.should_exit
            self.should_exit = True
            return
        self._draining = True
        log.info("received %s: draining", signal.Signals(sig).name)
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        task = asyncio.ensure_future(self._drain_then_exit())
        self._drain_task = task

    async def _drain_then_exit(self) -> None:
        try:
            await self.state.drain()
        except Exception:
            log.exception("drain failed")
        finally:
            self.should_exit = True


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # SageMaker starts the image as `<image> serve`; that word is the only argument accepted.
    if args and args[0] == "serve":
        args = args[1:]
    if args:
        print(f"usage: serve   (configuration comes from the environment; got {args})")
        return 2
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log.info("starting model server: %r", settings)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = DrainingServer(config, app.state.server)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
