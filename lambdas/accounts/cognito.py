"""Amazon Cognito sign-in: ID and access tokens (JWT) verified against the pool's JWKS.

The router accepts these tokens wherever it accepts an API key. A token is valid when its RS256
signature matches a key of the pool's JWKS (fetched once and cached; refetched on an unknown
`kid`, at most every `cooldown_s`), it has not expired, its issuer is the pool, and it was
issued to one of our app clients (`aud` of an ID token, `client_id` of an access token).

A first sign-in creates the registered user: its id is derived from the pool and the token's
`sub`, so every router replica maps a person to the same account without a lookup table.
Membership of the pool's admin group gives the admin tier.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError

from accounts.errors import AuthError, Unavailable
from accounts.schema import users
from accounts.tiers import Caller, TierLimits

NAMESPACE = uuid.UUID("6f1d7a52-3c55-4f4e-9a3e-5b7c1f0e2d11")


class InvalidCognitoToken(Exception):
    """Any reason a token is refused; callers answer 401 without saying which."""


@dataclass(frozen=True)
class CognitoConfig:
    issuer: str
    client_ids: tuple[str, ...]
    jwks_url: str = ""
    admin_group: str = "admin"
    jwks_ttl_s: float = 3600.0
    cooldown_s: float = 30.0
    leeway_s: float = 30.0

    @property
    def jwks(self) -> str:
        return self.jwks_url or self.issuer.rstrip("/") + "/.well-known/jwks.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> CognitoConfig | None:
        issuer = env.get("MOTHERFLUXER_COGNITO_ISSUER", "").strip()
        clients = tuple(
            c.strip() for c in env.get("MOTHERFLUXER_COGNITO_CLIENT_IDS", "").split(",") if c
        )
        if not issuer or not clients:
            return None
        return cls(
            issuer=issuer,
            client_ids=clients,
            jwks_url=env.get("MOTHERFLUXER_COGNITO_JWKS_URL", ""),
            admin_group=env.get("MOTHERFLUXER_COGNITO_ADMIN_GROUP", "admin") or "admin",
        )


@dataclass(frozen=True)
class Identity:
    user_id: str
    name: str
    admin: bool


class CognitoVerifier:
    def __init__(self, config: CognitoConfig) -> None:
        import jwt  # only routers with Cognito configured pay for the import

        self.config = config
        self._jwks = jwt.PyJWKClient(
            config.jwks,
            cache_jwk_set=True,
            lifespan=config.jwks_ttl_s,
            timeout=5,
            cooldown_duration=config.cooldown_s,
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or InvalidCognitoToken."""
        import jwt

        cfg = self.config
        try:
            if jwt.get_unverified_header(token).get("alg") != "RS256":
                raise InvalidCognitoToken("not RS256")
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp", "iat", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidCognitoToken(type(exc).__name__) from None
        use = claims.get("token_use")
        client = claims.get("aud") if use == "id" else claims.get("client_id")
        if use not in ("id", "access") or client not in cfg.client_ids:
            raise InvalidCognitoToken("not issued to this app")
        return claims

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        groups = claims.get("cognito:groups") or []
        user_id = uuid.uuid5(NAMESPACE, f"{self.config.issuer}|{claims['sub']}")
        name = str(claims.get("email") or claims.get("username") or claims.get("cognito:username"))
        return Identity(str(user_id), name or str(claims["sub"]), self.config.admin_group in groups)


class CognitoAuthenticator:
    """Token to Caller, creating the account on first sign-in."""

    def __init__(self, verifier: CognitoVerifier, known_ttl_s: float = 30.0) -> None:
        self.verifier = verifier
        self._known: dict[str, tuple[float, bool]] = {}
        self._known_ttl_s = known_ttl_s

    async def caller(self, token: str, store: Any, limits: Mapping[str, TierLimits]) -> Caller:
        try:
            # PyJWKClient fetches the JWKS with blocking I/O on a cache miss.
            claims = await asyncio.to_thread(self.verifier.verify, token)
        except InvalidCognitoToken:
            raise AuthError() from None
        who = self.verifier.identity(claims)
        if await self._disabled(who, store):
            raise AuthError()
        tier = "admin" if who.admin else "registered"
        return Caller(tier, limits[tier], user_id=who.user_id)

    async def _disabled(self, who: Identity, store: Any) -> bool:
        hit = self._known.get(who.user_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._known_ttl_s:
            return hit[1]
        uid = uuid.UUID(who.user_id)
        tier = "admin" if who.admin else "registered"
        try:
            async with store.engine.begin() as conn:
                await conn.execute(
                    insert(users)
                    .values(id=uid, name=who.name, tier=tier)
                    .on_conflict_do_nothing(index_elements=[users.c.id])
                )
                query = sa.select(users.c.disabled).where(users.c.id == uid)
                row = (await conn.execute(query)).one()
        except (SQLAlchemyError, OSError):
            raise Unavailable(
                "Authentication is temporarily unavailable; please retry.", retry_after=5
            ) from None
        self._known[who.user_id] = (now, bool(row.disabled))
        return bool(row.disabled)


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


@functools.cache
def configured() -> CognitoAuthenticator | None:
    """The authenticator for this process, from MOTHERFLUXER_COGNITO_* (None: not enabled)."""
    config = CognitoConfig.from_env(os.environ)
    return CognitoAuthenticator(CognitoVerifier(config)) if config else None
