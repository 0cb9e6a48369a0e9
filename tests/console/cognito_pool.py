"""A stand-in for a Cognito user pool: an RSA key pair, its JWKS served on loopback, tokens."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support.loopback_http import LoopbackHTTP, QuietHandler

CLIENT_ID = "console-client-1"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class LocalPool(LoopbackHTTP):
    def __init__(self) -> None:
        self.key = new_key()
        self.kid = "test-key-1"
        self.jwks_hits = 0
        pool = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if not self.path.endswith("/.well-known/jwks.json"):
                    self.send_error(404)
                    return
                pool.jwks_hits += 1
                jwk = json.loads(RSAAlgorithm.to_jwk(pool.key.public_key()))
                body = json.dumps(
                    {"keys": [{**jwk, "kid": pool.kid, "alg": "RS256", "use": "sig"}]}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

        self._serve(Handler)
        self.issuer = f"{self.origin}/us-east-1_LocalPool"

    def router_env(self) -> dict[str, str]:
        return {
            "MOTHERFLUXER_COGNITO_ISSUER": self.issuer,
            "MOTHERFLUXER_COGNITO_CLIENT_IDS": CLIENT_ID,
            "MOTHERFLUXER_COGNITO_ADMIN_GROUP": "admin",
        }

    def token(
        self,
        sub: str | None = None,
        *,
        use: str = "id",
        groups: tuple[str, ...] = (),
        key: rsa.RSAPrivateKey | None = None,
        ttl_s: int = 3600,
        **override: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub or str(uuid.uuid4()),
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl_s,
            "token_use": use,
            "email": "person@example.com",
        }
        if use == "id":
            claims["aud"] = CLIENT_ID
        else:
            claims["client_id"] = CLIENT_ID
        if groups:
            claims["cognito:groups"] = list(groups)
        claims.update(override)
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})
