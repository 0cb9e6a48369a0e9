"""Registration tokens, enrollment keys and instance credentials."""

from __future__ import annotations

import time

import pytest

from router.security import (
    InvalidToken,
    Signer,
    credential_matches,
    hash_secret,
    new_instance_credential,
)

signer = Signer(b"k" * 32)


def test_token_verifies_for_its_model_only() -> None:
    token = signer.issue_registration_token("m1", 60)
    assert signer.verify_registration_token(token, "m1").model == "m1"
    with pytest.raises(InvalidToken):
        signer.verify_registration_token(token, "m2")


def test_tampered_token_is_refused() -> None:
    token = signer.issue_registration_token("m1", 60)
    prefix, body, sig = token.split(".")
    forged = f"{prefix}.{body[:-2]}AA.{sig}"
    with pytest.raises(InvalidToken):
        signer.verify_registration_token(forged, "m1")
    with pytest.raises(InvalidToken):
        Signer(b"x" * 32).verify_registration_token(token, "m1")


def test_expired_token_is_refused_and_ttl_is_capped() -> None:
    now = time.time()
    token = signer.issue_registration_token("m1", 10, now=now - 20)
    with pytest.raises(InvalidToken):
        signer.verify_registration_token(token, "m1")
    long = signer.issue_registration_token("m1", 10_000, now=now)
    claims = signer.verify_registration_token(long, "m1", now=now)
    assert claims.expires_at - now <= 900


def test_enrollment_key_is_per_model() -> None:
    key = signer.enrollment_key("m1")
    assert signer.verify_enrollment_key(key, "m1")
    assert not signer.verify_enrollment_key(key, "m2")


def test_credentials_are_stored_as_hashes() -> None:
    cred = new_instance_credential()
    stored = hash_secret(cred)
    assert cred not in stored
    assert credential_matches(cred, stored)
    assert not credential_matches(cred + "x", stored)
    assert not credential_matches(cred, None)
