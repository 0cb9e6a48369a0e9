"""Registration tokens, enrollment keys and instance credentials.

- A registration token is HMAC-signed, scoped to one model, expires within 15 minutes and is
  single use (its id is written to DynamoDB with a conditional put when it is redeemed).
- An enrollment key is a per-model secret derived from the signing key; a container holding it
  can mint fresh registration tokens for that one model, which is how it re-registers after the
  router forgot it (lease expired, table TTL) without holding the admin key.
- An instance credential is a random secret returned once at registration; only its SHA-256
  is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

TOKEN_PREFIX = "mfr1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class InvalidToken(Exception):
    """Any reason a token is refused; callers answer every reason the same way."""


@dataclass(frozen=True)
class RegistrationClaims:
    token_id: str
    model: str
    expires_at: float


class Signer:
    def __init__(self, key: bytes, *, max_ttl_s: int = 900) -> None:
        if len(key) < 16:
            raise ValueError("the signing key must be at least 16 bytes")
        self._key = key
        self.max_ttl_s = max_ttl_s

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\x00" + data, hashlib.sha256).digest()

    def issue_registration_token(self, model: str, ttl_s: int, now: float | None = None) -> str:
        ttl = max(1, min(int(ttl_s), self.max_ttl_s))
        issued = time.time() if now is None else now
        claims = {"jti": secrets.token_hex(12), "model": model, "exp": int(issued + ttl)}
        body = _b64(orjson.dumps(claims))
        sig = _b64(self._mac(b"registration", body.encode()))
        return f"{TOKEN_PREFIX}.{body}.{sig}"

    def verify_registration_token(
        self, token: str, model: str, now: float | None = None
    ) -> RegistrationClaims:
        try:
            prefix, body, sig = token.split(".")
        except ValueError:
            raise InvalidToken("malformed") from None
        if prefix != TOKEN_PREFIX:
            raise InvalidToken("malformed")
        expected = _b64(self._mac(b"registration", body.encode()))
        if not hmac.compare_digest(expected, sig):
            raise InvalidToken("bad signature")
        try:
            claims = orjson.loads(_unb64(body))
            token_id, scoped_model, exp = (
                str(claims["jti"]),
                str(claims["model"]),
                float(claims["exp"]),
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidToken("malformed") from None
        current = time.time() if now is None else now
        if exp <= current:
            raise InvalidToken("expired")
        if scoped_model != model:
            raise InvalidToken("wrong model")
        return RegistrationClaims(token_id=token_id, model=scoped_model, expires_at=exp)

    def enrollment_key(self, model: str) -> str:
        return "mfe_" + _b64(self._mac(b"enrollment", model.encode()))

    def verify_enrollment_key(self, key: str, model: str) -> bool:
        return hmac.compare_digest(self.enrollment_key(model), key)


def new_instance_credential() -> str:
    return "mfi_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The credential is 256 random bits, so a plain SHA-256 is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_matches(secret: str, stored_hash: str | None) -> bool:
    if not stored_hash:
        # Still spend the comparison so a missing instance takes the same time.
        hmac.compare_digest(hash_secret(secret), "0" * 64)
        return False
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
