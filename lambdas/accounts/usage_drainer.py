"""SQS-triggered Lambda: writes usage records into the ledger, idempotent on request_id.

Configure the event source with `ReportBatchItemFailures`: malformed messages are reported
one by one (and reach the DLQ after the redrive count), while a database failure fails the whole
batch so SQS redelivers it; redelivered rows that were in fact committed are ignored.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from accounts.dbconfig import database_url
from accounts.schema import sync_url
from accounts.usage import UsageRecord, write_ledger_sync

log = logging.getLogger(__name__)
_engine: sa.Engine | None = None


def _get_engine() -> sa.Engine:
    global _engine
    if _engine is None:
        _engine = sa.create_engine(
            sync_url(database_url()), pool_pre_ping=True, pool_size=1, hide_parameters=True
        )
    return _engine


def handler(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    failures: list[dict[str, str]] = []
    records: list[UsageRecord] = []
    message_ids: list[str] = []
    seen: set[str] = set()
    for message in event.get("Records", []):
        try:
            record = UsageRecord.model_validate_json(message["body"])
        except (ValidationError, KeyError, ValueError):
            log.error("usage message %s is not a usage record", message.get("messageId"))
            failures.append({"itemIdentifier": message.get("messageId", "")})
            continue
        message_ids.append(message["messageId"])
        if record.request_id not in seen:  # one INSERT cannot hold the same key twice
            seen.add(record.request_id)
            records.append(record)
    if records:
        try:
            with _get_engine().begin() as connection:
                write_ledger_sync(connection, records)
        except sa.exc.SQLAlchemyError as exc:
            log.error("ledger write failed (%s); the batch will be retried", type(exc).__name__)
            failures.extend({"itemIdentifier": mid} for mid in message_ids)
    return {"batchItemFailures": failures}
