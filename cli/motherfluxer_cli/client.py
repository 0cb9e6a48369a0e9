"""HTTP to the router with the standard library only, and where the URL and key come from."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080"
# An editable install runs from the checkout; `make run` keeps its keys in its `.local/`.
CHECKOUT = Path(__file__).resolve().parents[2]

# Exit codes, the same for every command.
OK, FAILED, USAGE, UNREACHABLE, DENIED = 0, 1, 2, 3, 4


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Unreachable(CliError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the router at {url}: {reason}", UNREACHABLE)


class ApiError(CliError):
    def __init__(self, status: int, body: Any) -> None:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        message = err.get("message") or f"HTTP {status}"
        super().__init__(f"{message} (HTTP {status})", DENIED if status in (401, 403) else FAILED)
        self.status = status
        self.code = err.get("code", "")
        self.body = body if isinstance(body, dict) else {}


def data_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("MOTHERFLUXER_DATA_DIR"):
        dirs.append(Path(os.environ["MOTHERFLUXER_DATA_DIR"]))
    dirs += [Path.cwd() / ".local", CHECKOUT / ".local"]
    return dirs


def _local_file(name: str) -> str | None:
    for folder in data_dirs():
        path = folder / name
        if path.is_file():
            return path.read_text().strip() or None
    return None


def resolve_url(flag: str | None) -> str:
    url = flag or os.environ.get("MOTHERFLUXER_URL") or _local_file("router_url") or DEFAULT_URL
    return url.rstrip("/")


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def resolve_key(flag: str | None, url: str, *, admin: bool) -> str | None:
    """--key, then the environment (admin key first for admin commands), then the local
    stack's key files, which are only ever sent to a loopback router."""
    if flag:
        return flag
    env = os.environ
    order = (
        ("MOTHERFLUXER_ADMIN_KEY", "MOTHERFLUXER_API_KEY")
        if admin
        else ("MOTHERFLUXER_API_KEY", "MOTHERFLUXER_ADMIN_KEY")
    )
    for name in order:
        if env.get(name):
            return env[name]
    if _is_loopback(url):
        files = ("admin_key", "api_key") if admin else ("api_key", "admin_key")
        for name in files:
            found = _local_file(name)
            if found:
                return found
    return None


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    data: Any


class Client:
    def __init__(self, url: str, key: str | None, timeout_s: float = 15.0) -> None:
        self.url = url
        self.key = key
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: Any, query: dict[str, Any] | None) -> Any:
        url = self.url + path
        if query:
            clean = {k: v for k, v in query.items() if v not in (None, "")}
            if clean:
                url += "?" + urllib.parse.urlencode(clean)
        headers = {"Accept": "application/json", "User-Agent": "motherfluxer-cli"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        return urllib.request.Request(url, data=data, method=method, headers=headers)

    def _open(self, req: urllib.request.Request) -> Any:
        try:
            return urllib.request.urlopen(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            raise ApiError(exc.code, body) from None
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(self.url, str(reason)) from None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Response:
        with self._open(self._request(method, path, body, query)) as resp:
            raw = resp.read()
            data = json.loads(raw) if raw else None
            return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data)

    def get(self, path: str, **query: Any) -> Any:
        return self.call("GET", path, query=query).data

    def stream(self, path: str, body: Any) -> tuple[dict[str, str], Iterator[dict[str, Any]]]:
        """POST and yield the SSE `data:` events until `[DONE]`."""
        resp = self._open(self._request("POST", path, body, None))
        headers = {k.lower(): v for k, v in resp.headers.items()}

        def events() -> Iterator[dict[str, Any]]:
            with resp:
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    yield json.loads(payload)

        return headers, events()
