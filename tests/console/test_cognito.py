"""Cognito tokens: verified against the pool's JWKS; bad ones are 401; first sign-in creates
the registered user; the admin group maps to the admin tier."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
import pytest

from accounts.cognito import (
    NAMESPACE,
    CognitoConfig,
    CognitoVerifier,
    InvalidCognitoToken,
    looks_like_jwt,
)
from devstack.stack import EmbeddedStack
from tests.console.cognito_pool import CLIENT_ID, LocalPool, new_key


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["cognito:groups"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


def _bad_tokens(pool: LocalPool) -> dict[str, str]:
    return {
        "expired": pool.token(ttl_s=-120),
        "wrong audience": pool.token(aud="someone-elses-client"),
        "wrong issuer": pool.token(
            iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"
        ),
        "tampered": _tampered(pool.token()),
        "other key, same kid": pool.token(key=new_key()),
        "access token of another client": pool.token(use="access", client_id="other"),
        "not a Cognito token use": pool.token(token_use="refresh"),
        "HS256": jwt.encode(
            {
                "sub": "x",
                "iss": pool.issuer,
                "aud": CLIENT_ID,
                "token_use": "id",
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
            },
            "a-shared-secret-that-is-long-enough-for-hs256",
            algorithm="HS256",
            headers={"kid": pool.kid},
        ),
    }


@pytest.fixture(scope="module")
def verifier(cognito_pool: LocalPool) -> CognitoVerifier:
    return CognitoVerifier(CognitoConfig(cognito_pool.issuer, (CLIENT_ID,)))


def test_valid_id_and_access_tokens_are_accepted_and_the_jwks_is_cached(
    cognito_pool: LocalPool, verifier: CognitoVerifier
) -> None:
    before = cognito_pool.jwks_hits
    for _ in range(5):
        assert verifier.verify(cognito_pool.token(sub="alice"))["sub"] == "alice"
    assert verifier.verify(cognito_pool.token(use="access"))["token_use"] == "access"
    assert cognito_pool.jwks_hits - before <= 1
    ident = verifier.identity(verifier.verify(cognito_pool.token(sub="alice", groups=("admin",))))
    assert ident.admin and ident.user_id == str(
        uuid.uuid5(NAMESPACE, f"{cognito_pool.issuer}|alice")
    )


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong audience",
        "wrong issuer",
        "tampered",
        "other key, same kid",
        "access token of another client",
        "not a Cognito token use",
        "HS256",
    ],
)
def test_bad_tokens_are_refused(
    cognito_pool: LocalPool, verifier: CognitoVerifier, case: str
) -> None:
    with pytest.raises(InvalidCognitoToken):
        verifier.verify(_bad_tokens(cognito_pool)[case])


def test_api_keys_are_not_mistaken_for_tokens() -> None:
    assert not looks_like_jwt("mf_abcd1234_secret")
    assert looks_like_jwt("eyJhbGciOi.eyJzdWIi.c2ln")


def test_config_needs_issuer_and_client() -> None:
    assert CognitoConfig.from_env({}) is None
    assert CognitoConfig.from_env({"MOTHERFLUXER_COGNITO_ISSUER": "https://x"}) is None
    cfg = CognitoConfig.from_env(
        {"MOTHERFLUXER_COGNITO_ISSUER": "https://x/pool", "MOTHERFLUXER_COGNITO_CLIENT_IDS": "a,b"}
    )
    assert cfg is not None and cfg.client_ids == ("a", "b")
    assert cfg.jwks == "https://x/pool/.well-known/jwks.json"


@pytest.mark.slow
def test_the_router_accepts_pool_tokens_and_refuses_bad_ones_with_401(
    console_stack: EmbeddedStack, cognito_pool: LocalPool
) -> None:
    sub = f"person-{uuid.uuid4().hex[:8]}"
    user_id = str(uuid.uuid5(NAMESPACE, f"{cognito_pool.issuer}|{sub}"))
    admin = {"Authorization": f"Bearer {console_stack.admin_key}"}
    with httpx.Client(base_url=console_stack.url, timeout=20) as client:
        # Before the first sign-in there is no such user.
        assert (
            client.post(f"/admin/users/{user_id}/keys", json={}, headers=admin).status_code == 404
        )
        token = cognito_pool.token(sub=sub)
        mine = client.get("/v1/usage", headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200, mine.text
        # The first sign-in created the registered user.
        assert (
            client.post(f"/admin/users/{user_id}/keys", json={}, headers=admin).status_code == 201
        )
        chat = client.post(
            "/v1/chat/completions",
            json={
                "model": "tiny-chat",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 3,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert chat.status_code == 200
        assert (
            client.get("/admin/usage", headers={"Authorization": f"Bearer {token}"}).status_code
            == 403
        )
        boss = cognito_pool.token(groups=("admin",))
        assert (
            client.get("/admin/usage", headers={"Authorization": f"Bearer {boss}"}).status_code
            == 200
        )
        for case, bad in _bad_tokens(cognito_pool).items():
            refused = client.get("/v1/usage", headers={"Authorization": f"Bearer {bad}"})
            assert refused.status_code == 401, case
            assert refused.json()["error"]["type"]
