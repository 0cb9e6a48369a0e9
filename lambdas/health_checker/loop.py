"""The health checker as a loop, for the local stack (the same code the Lambda runs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

import boto3

from contracts import emf, env
from health_checker.metrics import emit
from health_checker.probe import check_all
from registry.repository import InstanceRepository

logger = logging.getLogger("motherfluxer.health")


async def run(interval_s: float, stop: asyncio.Event) -> None:
    client = boto3.client("dynamodb", endpoint_url=env.text(env.DYNAMODB_ENDPOINT))
    repo = InstanceRepository(client, os.environ[env.INSTANCES_TABLE])
    # The same documents the Lambda prints, written where the local stack asked for them.
    metrics_on = emf.enabled()
    while not stop.is_set():
        try:
            report = await check_all(repo, timeout_s=min(2.0, interval_s))
            if metrics_on:
                emit(report)
            if report.changed:
                logger.info("status changed: %s", ", ".join(report.changed))
        except Exception:
            logger.exception("health round failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description="MotherFluxer active health checks (loop)")
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(args.interval, stop)

    asyncio.run(_main())


if __name__ == "__main__":
    main()
