"""API key format, hashing and verification, plus the short-TTL in-process key cache.

Keys look like `mf_<prefix>_<secret>`: the 8-character prefix is public (it names the key in
logs, reports and `DELETE /admin/keys/{prefix}`), the secret is 32 random bytes. Only
HMAC-SHA256(pepper, secret) is stored. A slow password hash buys nothing for a 256-bit random
secret (it cannot be brute-forced), while the pepper, kept in Secrets Manager and not in the
database, means a leaked table alone cannot be used to check guesses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

KEY_RE = re.compile(r"^mf_([a-z2-7]{8})_([A-Za-z0-9_\-]{43})$")
_DUMMY_HASH = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class NewKey:
    prefix: str
    secret: str

    @property
    def full(self) -> str:
        return f"mf_{self.prefix}_{self.secret}"


def generate() -> NewKey:
    prefix = base64.b32encode(secrets.token_bytes(5)).decode().lower()
    return NewKey(prefix=prefix, secret=secrets.token_urlsafe(32))


def parse(key: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    m = KEY_RE.match(key)
    return (m.group(1), m.group(2)) if m else None


def hash_secret(pepper: bytes, secret: str) -> bytes:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).digest()


def verify(pepper: bytes, secret: str, stored: bytes | None) -> bool:
    """Constant-time check; a missing row is compared against a dummy so timing does not tell."""
    return hmac.compare_digest(hash_secret(pepper, secret), stored or _DUMMY_HASH) and (
        stored is not None
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the cache keeps about a key: enough to authenticate without the database."""

    prefix: str
    secret_hash: bytes
    user_id: str
    tier: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked: bool
    user_disabled: bool
    # The key's default optimisation goal; a request's own `routing.optimize` wins.
    optimize: str | None = None


class KeyCache:
    """prefix → KeyRecord (or None for unknown), for at most `ttl` seconds.

    The TTL bounds how long a revocation takes to reach every router process; negative entries
    live shorter so a freshly created key is usable almost at once.
    """

    def __init__(
        self,
        ttl: float = 30.0,
        negative_ttl: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        if ttl > 30:
            raise ValueError("key cache TTL above 30 s would let revoked keys live too long")
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, KeyRecord | None]] = {}

    def get(self, prefix: str) -> tuple[bool, KeyRecord | None]:
        """(hit, record). A hit with None is a cached "unknown key"."""
        entry = self._entries.get(prefix)
        if entry is None:
            return False, None
        expires, record = entry
        if self.clock() >= expires:
            del self._entries[prefix]
            return False, None
        return True, record

    def put(self, prefix: str, record: KeyRecord | None) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # crude but bounded; a refill costs one query per key
        ttl = self.ttl if record is not None else self.negative_ttl
        self._entries[prefix] = (self.clock() + ttl, record)

    def invalidate(self, prefix: str) -> None:
        self._entries.pop(prefix, None)
