"""The ledger holds one row per accepted request despite Redis, Postgres and router faults."""

from __future__ import annotations

import json

import boto3
import pytest
import sqlalchemy as sa
from conftest import request_id
from moto import mock_aws
from redis.asyncio import Redis
from servers import RedisProcess

from accounts import usage_drainer
from accounts.schema import sync_url
from accounts.usage import OutboxDrainer, OutboxSink, SqsSink, UsageRecord

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ledger_ids(pg) -> list[str]:
    engine = sa.create_engine(sync_url(pg.url()), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text("SELECT request_id FROM usage_ledger"))]
    finally:
        engine.dispose()


async def serve(service, caller, model, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        adm = await service.admit(caller, model, 10, 10, request_id=request_id())
        rec = UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=10, tokens_out=7)
        await service.complete(adm, rec)
        ids.append(adm.request_id)
    return ids


async def test_duplicate_put_gives_one_row(pg, engine, outbox_dir, drainer):
    sink = OutboxSink(outbox_dir)
    rec = UsageRecord(request_id="dup-1", model="m", tokens_in=1, tokens_out=1)
    await sink.put(rec)
    await sink.put(rec)
    await drainer.drain_once()
    await sink.put(rec)  # a retry after it was already drained
    await drainer.drain_once()
    assert ledger_ids(pg) == ["dup-1"]


async def test_postgres_outage_records_wait_then_drain(pg, engine, service, model, outbox_dir):
    caller = await service.authenticate(None, "192.0.2.10")
    before = await serve(service, caller, model, 3)
    drainer = OutboxDrainer(OutboxSink(outbox_dir), pg.url())
    pg.stop()
    try:
        during = await serve(service, caller, model, 3)  # the hot path never touches Postgres
        with pytest.raises(sa.exc.OperationalError):
            await drainer.drain_once()
        assert drainer.outbox.pending() == 6
    finally:
        pg.start()
    assert await drainer.drain_once() == 6
    drainer.close()
    assert sorted(ledger_ids(pg)) == sorted(before + during)


async def test_router_crash_then_new_process_drains_exactly_once(
    pg, engine, build_service, model, outbox_dir
):
    crashed = build_service()
    caller = await crashed.authenticate(None, "192.0.2.11")
    ids = await serve(crashed, caller, model, 5)
    # Crash: the process's outbox handle is dropped without close or drain. Worse, the
    # previous drainer committed two rows but died before deleting them from the outbox.
    del crashed
    survivor = OutboxSink(outbox_dir)
    engine_sync = sa.create_engine(sync_url(pg.url()), poolclass=sa.pool.NullPool)
    from accounts.usage import write_ledger_sync

    with engine_sync.begin() as conn:
        write_ledger_sync(conn, survivor.peek(2))
    engine_sync.dispose()

    restarted = OutboxDrainer(survivor, pg.url())
    assert await restarted.drain_once() == 5
    restarted.close()
    assert sorted(ledger_ids(pg)) == sorted(ids)


async def test_redis_outage_mid_way_loses_and_doubles_nothing(
    pg, engine, build_service, model, outbox_dir, workdir, drainer
):
    proc = RedisProcess(workdir / "redis-outage")
    proc.start()
    client = Redis.from_url(proc.url, socket_timeout=0.3, socket_connect_timeout=0.3)
    try:
        service = build_service(redis=client)
        user_id = await service.create_user("steady", "registered")
        caller = await service.authenticate(
            f"Bearer {await service.create_key(user_id)}", "1.1.1.1"
        )
        ids = await serve(service, caller, model, 3)
        adm = await service.admit(caller, model, 10, 10, request_id=request_id())
        proc.stop()  # Redis dies between admission and completion...
        await service.complete(
            adm, UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=3, tokens_out=3)
        )
        ids.append(adm.request_id)
        ids += await serve(service, caller, model, 3)  # ...and registered traffic carries on
        proc.start()
        ids += await serve(service, caller, model, 2)
    finally:
        await client.aclose()
        proc.stop()
    await drainer.drain_once()
    assert sorted(ledger_ids(pg)) == sorted(ids)
    assert len(ids) == 9


async def test_sqs_sink_and_drainer_lambda_are_idempotent(pg, engine, monkeypatch):
    monkeypatch.setenv("MOTHERFLUXER_DATABASE_URL", pg.url())
    monkeypatch.setattr(usage_drainer, "_engine", None)
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="usage")["QueueUrl"]
        sink = SqsSink(url, client=sqs)
        for rid in ("sqs-1", "sqs-2", "sqs-1"):  # a duplicate send
            await sink.put(UsageRecord(request_id=rid, model="m", tokens_in=1, tokens_out=2))
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in msgs]}
    event["Records"].append({"messageId": "bad", "body": json.dumps({"nope": 1})})
    result = usage_drainer.handler(event, None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert usage_drainer.handler(event, None) == result  # redelivery: no doubles
    assert sorted(ledger_ids(pg)) == ["sqs-1", "sqs-2"]
    usage_drainer._engine.dispose()
