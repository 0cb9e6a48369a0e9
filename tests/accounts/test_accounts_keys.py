"""API keys: the key works, revoked/unknown/expired keys look identical, secrets never logged."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ADMIN_KEY

from accounts import AuthError
from accounts.keys import parse
from accounts.redaction import install

pytestmark = pytest.mark.asyncio(loop_scope="session")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_created_key_authenticates_as_registered_user(service):
    user_id = await service.create_user("ada", "registered")
    key = await service.create_key(user_id)
    assert parse(key) is not None
    caller = await service.authenticate(f"Bearer {key}", "10.0.0.1")
    assert (caller.tier, caller.user_id) == ("registered", user_id)
    assert key.startswith("mf_") and caller.key_prefix == key.split("_")[1]


async def test_no_header_is_demo_and_admin_key_is_admin(service):
    demo = await service.authenticate(None, "10.0.0.9")
    assert (demo.tier, demo.client_ip, demo.user_id) == ("demo", "10.0.0.9", None)
    admin = await service.authenticate(f"Bearer {ADMIN_KEY}", "10.0.0.9")
    assert admin.tier == "admin"


async def test_unknown_revoked_malformed_keys_give_the_same_error(service):
    user_id = await service.create_user("bob", "registered")
    key = await service.create_key(user_id)
    prefix, secret = parse(key)
    await service.revoke_key(prefix)

    errors = []
    for header in (
        f"Bearer {key}",  # revoked
        f"Bearer mf_{'a' * 8}_{secret}",  # unknown prefix
        f"Bearer mf_{prefix}_{'B' * 43}",  # right prefix, wrong secret
        "Bearer not-a-key",
        f"Basic {key}",  # keys only via Bearer
    ):
        with pytest.raises(AuthError) as info:
            await service.authenticate(header, "10.0.0.1")
        errors.append((info.value.status, info.value.to_body()))
    assert all(e == errors[0] for e in errors)
    assert errors[0][0] == 401


async def test_revocation_reaches_other_processes_within_cache_ttl(build_service):
    clock = FakeClock()
    router_a = build_service(clock=clock)
    router_b = build_service(clock=clock)
    user_id = await router_a.create_user("carol", "registered")
    key = await router_a.create_key(user_id)
    await router_b.authenticate(f"Bearer {key}", "1.1.1.1")  # router B caches the key

    await router_a.revoke_key(parse(key)[0])
    with pytest.raises(AuthError):
        await router_a.authenticate(f"Bearer {key}", "1.1.1.1")  # immediate where revoked
    clock.now += 29
    await router_b.authenticate(f"Bearer {key}", "1.1.1.1")  # still cached (TTL 30 s)
    clock.now += 1.5
    with pytest.raises(AuthError):
        await router_b.authenticate(f"Bearer {key}", "1.1.1.1")  # gone after the TTL


async def test_expired_key_is_rejected(build_service):
    now = datetime.now(UTC)
    current = {"t": now}
    service = build_service(wall_clock=lambda: current["t"])
    user_id = await service.create_user("dan", "registered")
    key = await service.create_key(user_id, expires_at=now + timedelta(hours=1))
    await service.authenticate(f"Bearer {key}", "1.1.1.1")
    current["t"] = now + timedelta(hours=1, seconds=1)
    with pytest.raises(AuthError):
        await service.authenticate(f"Bearer {key}", "1.1.1.1")


async def test_keys_never_appear_in_logs(build_service, caplog):
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger()
    handler = Collect(level=logging.DEBUG)
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    flt = install(root)
    caplog.set_level(logging.DEBUG)
    try:
        service = build_service()
        user_id = await service.create_user("eve", "registered")
        key = await service.create_key(user_id)
        await service.authenticate(f"Bearer {key}", "1.2.3.4")
        # A careless log line elsewhere in the app must be masked too.
        logging.getLogger("router.api").info("request headers: Authorization: Bearer %s", key)
        await service.revoke_key(parse(key)[0])
        with pytest.raises(AuthError):
            await service.authenticate(f"Bearer {key}", "1.2.3.4")
    finally:
        root.removeHandler(handler)
        root.removeFilter(flt)
        root.setLevel(old_level)
    secret = parse(key)[1]
    everything = "\n".join(lines) + caplog.text
    assert lines, "expected the service to log key creation and revocation"
    assert secret not in everything
    assert key not in everything
