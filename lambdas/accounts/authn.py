"""Who is calling: the admin key, an API key (cached, Postgres at most every 30 s), or demo."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from accounts import cognito
from accounts import keys as keylib
from accounts.errors import AuthError, AuthUnavailable
from accounts.settings import AccountsSettings
from accounts.store import AccountsStore
from accounts.tiers import TIERS, Caller, Tier

log = logging.getLogger(__name__)


class Authenticator:
    def __init__(
        self,
        store: AccountsStore,
        key_cache: keylib.KeyCache,
        settings: AccountsSettings,
        pepper: bytes,
        admin_key: str | None,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.key_cache = key_cache
        self.settings = settings
        self._pepper = pepper
        self._admin_key = admin_key
        self.wall_clock = wall_clock

    async def authenticate(self, authorization_header: str | None, client_ip: str) -> Caller:
        """Caller for this request; no header means demo. Raises AuthError for any bad key."""
        if authorization_header is None or not authorization_header.strip():
            return Caller("demo", self.settings.limits["demo"], client_ip=client_ip)
        token = keylib.bearer_token(authorization_header)
        if token is None:
            raise AuthError()
        if self._admin_key and hmac.compare_digest(token.encode(), self._admin_key.encode()):
            return Caller("admin", self.settings.limits["admin"], key_prefix="admin")
        if cognito.looks_like_jwt(token) and (auth := cognito.configured()) is not None:
            return await auth.caller(token, self.store, self.settings.limits)
        parsed = keylib.parse(token)
        if parsed is None:
            raise AuthError()
        prefix, secret = parsed
        hit, record = self.key_cache.get(prefix)
        if not hit:
            try:
                record = await self.store.load_key(prefix)
            except (SQLAlchemyError, OSError) as exc:
                log.error("key lookup failed (%s)", type(exc).__name__)
                raise AuthUnavailable(
                    "Authentication is temporarily unavailable; please retry.", retry_after=5
                ) from None
            self.key_cache.put(prefix, record)
        ok = keylib.verify(self._pepper, secret, record.secret_hash if record else None)
        if not ok or record is None or record.revoked or record.user_disabled:
            raise AuthError()
        if record.expires_at is not None and record.expires_at <= self.wall_clock():
            raise AuthError()
        tier: Tier = record.tier if record.tier in TIERS else "registered"  # type: ignore[assignment]
        if tier == "demo":
            tier = "registered"  # a key always lifts the caller out of the anonymous tier
        return Caller(
            tier,
            self.settings.limits[tier],
            user_id=record.user_id,
            key_prefix=record.prefix,
            scopes=record.scopes,
            optimize=record.optimize,
        )
