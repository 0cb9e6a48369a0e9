"""Registration with the MotherFluxer router, heartbeats, re-enrolment and deregistration.

Secrets (registration token, instance credential, enrollment key) are sent only in request
bodies or Authorization headers and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from model_server.config import Settings

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5


class RegistrationError(Exception):
    """Registration did not succeed; `token_spent` says the token must not be used again."""

    def __init__(self, message: str, *, token_spent: bool = False) -> None:
        super().__init__(message)
        self.token_spent = token_spent


class RouterRegistration:
    def __init__(
        self,
        settings: Settings,
        status: Callable[[], dict[str, Any]],
        wait_ready: Callable[[], Awaitable[None]],
    ) -> None:
        assert settings.router_url, "registration needs MOTHERFLUXER_ROUTER_URL"
        self.settings = settings
        self.router = settings.router_url
        self._status = status
        self._wait_ready = wait_ready
        self.instance_id: str | None = None
        self._credential: str | None = None
        self.heartbeat_interval_s = 10.0
        self.registrations = 0
        self.heartbeats = 0
        self._stop = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="router-registration")

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; returns False when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        return not self._stop.is_set()

    async def _fresh_token(self) -> str:
        key = self.settings.enrollment_key
        if not key:
            raise RegistrationError("no unused registration token and no enrollment key is set")
        async with self._http().post(
            f"{self.router}/instances/registration-tokens",
            json={"model": self.settings.served_model_name},
            headers={"Authorization": f"Bearer {key}"},
        ) as resp:
            if resp.status != 200 and resp.status != 201:
                raise RegistrationError(f"token request answered {resp.status}")
            body = await resp.json()
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            raise RegistrationError("token response had no token")
        return str(token)

    @property
    def _sigv4(self) -> bool:
        return self.settings.registration_auth == "sigv4"

    def _signed(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """SigV4 headers for API Gateway's IAM authorizer, signed with the task's role.

        botocore is imported only in this mode; its credential chain finds the ECS task role
        or the SageMaker execution role by itself.
        """
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise RegistrationError("sigv4 registration needs AWS credentials (an IAM role)")
        request = AWSRequest(
            method=method, url=url, data=body, headers={"Content-Type": "application/json"}
        )
        region = self.settings.aws_region or "us-east-1"
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    async def _post_json(
        self, url: str, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        body = json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self._sigv4:
            sent.update(self._signed("POST", url, body))
        return await self._http().post(url, data=body, headers=sent)

    async def _register(self, token: str) -> None:
        payload = {
            "token": token,
            "model": self.settings.served_model_name,
            "version": self.settings.model_version,
            "kind": "openai",
            "base_url": self.settings.public_url,
        }
        async with await self._post_json(f"{self.router}/instances/register", payload) as resp:
            if resp.status in (400, 401, 403, 404, 409, 410, 422):
                raise RegistrationError(f"registration refused ({resp.status})", token_spent=True)
            if resp.status not in (200, 201):
                raise RegistrationError(f"registration answered {resp.status}")
            body = await resp.json()
        self.instance_id = str(body["instance_id"])
        self._credential = str(body["credential"])
        interval = float(body.get("heartbeat_interval_s") or 10.0)
        self.heartbeat_interval_s = max(0.05, interval)
        self.registrations += 1
        log.info(
            "registered with router as instance %s (heartbeat every %.1fs)",
            self.instance_id,
            self.heartbeat_interval_s,
        )

    async def _heartbeat(self) -> int:
        url = f"{self.router}/instances/{self.instance_id}/heartbeat"
        # Under SigV4 the Authorization header holds the signature, so the credential moves.
        auth = (
            {"x-motherfluxer-instance-credential": str(self._credential)}
            if self._sigv4
            else {"Authorization": f"Bearer {self._credential}"}
        )
        async with await self._post_json(url, self._status(), auth) as resp:
            await resp.read()
            if resp.status < 300:
                self.heartbeats += 1
            return resp.status

    async def _run(self) -> None:
        await self._wait_ready()
        token = self.settings.registration_token
        failures = 0
        while not self._stop.is_set():
            try:
                if self.instance_id is None:
                    if self._sigv4:
                        # The signature is the proof; no token is needed or spent.
                        token = ""
                    elif token is None:
                        token = await self._fresh_token()
                    try:
                        await self._register(token)
                        token = None
                    except RegistrationError as exc:
                        if exc.token_spent:
                            token = None
                        raise
                    failures = 0
                    continue
                if not await self._sleep(self.heartbeat_interval_s):
                    return
                status = await self._heartbeat()
                if status in (401, 404):
                    log.warning("router no longer knows this instance (%s); re-registering", status)
                    self.instance_id, self._credential, token = None, None, None
                elif status >= 300:
                    log.warning("heartbeat answered %s", status)
                failures = 0
            except asyncio.CancelledError:
                raise
            except (
                aiohttp.ClientError,
                TimeoutError,
                RegistrationError,
                ValueError,
                KeyError,
            ) as exc:
                failures += 1
                cap = min(self.settings.registration_backoff_cap_s, BACKOFF_BASE_S * 2**failures)
                delay = random.uniform(cap / 2, cap)
                log.warning(
                    "router registration: %s (%s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                if not await self._sleep(delay):
                    return

    async def deregister(self) -> None:
        """Stop heartbeating and remove this instance from the router (best effort, once)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self.instance_id is not None and self._credential is not None:
            try:
                async with self._http().delete(
                    f"{self.router}/instances/{self.instance_id}",
                    headers={"Authorization": f"Bearer {self._credential}"},
                ) as resp:
                    log.info("deregistered instance %s (%s)", self.instance_id, resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("deregistration failed: %s", type(exc).__name__)
            self.instance_id, self._credential = None, None
        if self._session is not None:
            await self._session.close()
            self._session = None
