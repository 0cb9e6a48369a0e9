"""Pure parts: prices, cache-key rules, key format and cache bounds, log redaction."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws

from accounts.cache import cache_key
from accounts.dbconfig import database_url
from accounts.keys import KeyCache, generate, hash_secret, parse, verify
from accounts.pricing import max_cost, price_request
from accounts.redaction import redact
from routing.catalog import ModelSpec

REQ = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def test_prices_from_config_and_from_instance_hours():
    provider = ModelSpec(id="p", cost_per_1m_input=3.0, cost_per_1m_output=15.0)
    assert price_request(provider, 1_000_000, 0) == Decimal("3")
    assert price_request(provider, 1000, 2000) == Decimal("0.033")
    hosted = ModelSpec(id="h", instance_hour_usd=3.6, tokens_per_second=100)
    # $3.60/h over 360,000 tokens/h = $0.00001 per token.
    assert price_request(hosted, 50, 50) == Decimal("0.001")
    assert max_cost(hosted, 50, 150) == Decimal("0.002")


def test_only_deterministic_requests_are_cacheable_and_streams_need_opt_in():
    assert cache_key("t", REQ) is not None
    assert cache_key("t", {**REQ, "temperature": 0.7}) is None
    assert cache_key("t", {**REQ, "temperature": 0.7, "seed": 3}) is not None
    assert cache_key("t", {**REQ, "stream": True}) is None
    assert cache_key("t", {**REQ, "stream": True, "cache": True}) is not None
    assert cache_key("t", {**REQ, "cache": False}) is None
    # Tenants never share entries; fields that do not change the output do not split the key.
    assert cache_key("a", REQ) != cache_key("b", REQ)
    assert cache_key("t", REQ) == cache_key("t", {**REQ, "user": "x", "temperature": 0.0})


def test_cache_ttl_cannot_exceed_30_seconds():
    with pytest.raises(ValueError):
        KeyCache(ttl=31)


def test_redact_masks_keys_and_bearer_tokens():
    text = "auth Authorization: Bearer sk-abc123 key=mf_abcdefgh_" + "Z" * 43
    masked = redact(text)
    assert "sk-abc123" not in masked and "Z" * 43 not in masked


def test_key_format_and_hash_verification():
    new = generate()
    assert parse(new.full) == (new.prefix, new.secret)
    assert len(new.prefix) == 8 and len(new.secret) == 43
    stored = hash_secret(b"p" * 16, new.secret)
    assert verify(b"p" * 16, new.secret, stored)
    assert not verify(b"q" * 16, new.secret, stored)  # another pepper: no match
    assert not verify(b"p" * 16, new.secret, None)
    assert parse("mf_short_x") is None


def test_self_hosted_price_uses_measured_throughput_override():
    from accounts.pricing import Price

    hosted = ModelSpec(id="h", instance_hour_usd=3.6, tokens_per_second=100)
    measured = Price(measured_tokens_per_s=200)
    assert price_request(hosted, 50, 50, measured) == Decimal("0.0005")


def test_database_url_from_rds_secret(monkeypatch):
    monkeypatch.delenv("MOTHERFLUXER_DATABASE_URL", raising=False)
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(
            Name="db",
            SecretString=json.dumps(
                {"username": "mf", "password": "p@ss/word", "host": "db.internal", "port": 5432}
            ),
        )["ARN"]
        monkeypatch.setenv("MOTHERFLUXER_DATABASE_SECRET", arn)
        url = database_url(sm)
    assert url == "postgresql+psycopg://mf:p%40ss%2Fword@db.internal:5432/postgres?sslmode=require"


def test_self_hosted_price_follows_measured_throughput() -> None:
    from decimal import Decimal

    from accounts.pricing import (
        measured_tokens_per_second,
        price_request,
        with_measured_speed,
    )
    from routing.catalog import ModelSpec
    from routing.instances import Instance

    spec = ModelSpec(id="phi-2", instance_hour_usd=3.6, tokens_per_second=100)
    fleet = [
        Instance("a", "phi-2", "v1", "openai", "http://a", tokens_per_second=400.0),
        Instance("b", "phi-2", "v1", "openai", "http://b", tokens_per_second=600.0),
        Instance("c", "phi-2", "v1", "openai", "http://c", tokens_per_second=0.0),
    ]
    speed = measured_tokens_per_second(fleet, "phi-2")
    assert speed == 500.0, "idle instances (no figure yet) do not drag the mean down"
    # $3.60 an hour at 500 tokens/s is $0.000002 per token; the spec's guess would say 5x more.
    assert price_request(spec, 10, 0, with_measured_speed(None, speed)) == Decimal("0.000020000")
    assert price_request(spec, 10, 0) == Decimal("0.000100000")
    assert measured_tokens_per_second(fleet, "other") is None
