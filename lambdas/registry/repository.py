"""The instances table: registrations, heartbeats, health and breaker state, tokens, config.

Every read-modify-write is a conditional update on the item's `rev` attribute, so concurrent
writers (many router processes, the health checker, heartbeats) never overwrite each other:
a writer whose condition fails re-reads and re-applies its change.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from registry.items import INSTANCES_PK, instance_to_item, item_to_instance, num
from routing.instances import Instance

CONFIG_PK = "config"
MAX_CONDITIONAL_RETRIES = 64
# Jittered pause between lost races, so a burst of writers on one item spreads out.
RETRY_PAUSE_CAP_S = 0.05


class InstanceNotFound(Exception):
    pass


class ConcurrentUpdate(Exception):
    """The item kept changing under us for longer than the retry limit."""


def create_table(client: Any, table_name: str) -> None:
    """Create the table as the data stack defines it (used by the local stack and tests)."""
    client.create_table(
        TableName=table_name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )


class InstanceRepository:
    """Small repository over a boto3 DynamoDB client (synchronous; callers pick the thread)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        expiry_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._expiry_s = expiry_s
        self._clock = clock

    # -- reads -------------------------------------------------------------------------------
    def list_instances(self) -> list[Instance]:
        out: list[Instance] = []
        for item in self._query(INSTANCES_PK):
            out.append(item_to_instance(item))
        return out

    def get(self, instance_id: str) -> Instance | None:
        item = self.get_item(instance_id)
        return item_to_instance(item) if item else None

    def get_item(self, instance_id: str) -> dict[str, Any] | None:
        resp = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": INSTANCES_PK}, "sk": {"S": instance_id}},
            ConsistentRead=True,
        )
        return resp.get("Item")

    def _query(self, pk: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        while True:
            resp = self._client.query(**kwargs)
            items.extend(resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    # -- registration ------------------------------------------------------------------------
    def register(self, inst: Instance, credential_hash: str) -> None:
        now = self._clock()
        item = instance_to_item(
            inst,
            credential_hash={"S": credential_hash},
            registered_at=num(now),
            expires_at=num(int(now + self._expiry_s)),
        )
        self._client.put_item(
            TableName=self._table,
            Item=item,
            ConditionExpression="attribute_not_exists(sk)",
        )

    def put(self, inst: Instance) -> None:
        """Upsert a statically configured instance (SageMaker endpoints, external providers)."""
        now = self._clock()
        item = instance_to_item(inst, registered_at=num(now))
        self._client.put_item(TableName=self._table, Item=item)

    def deregister(self, instance_id: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": {"S": INSTANCES_PK}, "sk": {"S": instance_id}},
                ConditionExpression="attribute_exists(sk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def heartbeat(
        self,
        instance_id: str,
        *,
        in_flight: int,
        queue_depth: int,
        tokens_per_second: float,
        ready: bool,
    ) -> Instance:
        """Record a heartbeat as one atomic update, so it never races another writer.

        Heartbeats own the starting <-> healthy transition only: `unhealthy` belongs to the
        health checker's probes and `draining` to an operator, and a heartbeat leaves both alone
        (it still renews the lease).
        """
        now = self._clock()
        status_expr = "#st = :status"
        condition = "attribute_exists(sk) AND #st IN (:starting, :healthy)"
        values: dict[str, Any] = {
            ":now": num(now),
            ":inf": num(int(in_flight)),
            ":q": num(int(queue_depth)),
            ":tps": num(float(tokens_per_second)),
            ":exp": num(int(now + self._expiry_s)),
            ":one": num(1),
            ":status": {"S": "healthy" if ready else "starting"},
            ":starting": {"S": "starting"},
            ":healthy": {"S": "healthy"},
        }
        try:
            resp = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": INSTANCES_PK}, "sk": {"S": instance_id}},
                UpdateExpression=(
                    f"SET last_heartbeat = :now, in_flight = :inf, queue_depth = :q, "
                    f"tokens_per_second = :tps, expires_at = :exp, {status_expr} ADD rev :one"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#st": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            current = self.get(instance_id)
            if current is None:
                raise InstanceNotFound(instance_id) from None
            # Draining or unhealthy: keep the lease fresh but leave the status alone.
            return self._touch(instance_id, now, in_flight, queue_depth, tokens_per_second)
        return item_to_instance(resp["Attributes"])

    def _touch(
        self, instance_id: str, now: float, in_flight: int, queue_depth: int, tps: float
    ) -> Instance:
        try:
            resp = self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": INSTANCES_PK}, "sk": {"S": instance_id}},
                UpdateExpression=(
                    "SET last_heartbeat = :now, in_flight = :inf, queue_depth = :q, "
                    "tokens_per_second = :tps, expires_at = :exp ADD rev :one"
                ),
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeValues={
                    ":now": num(now),
                    ":inf": num(int(in_flight)),
                    ":q": num(int(queue_depth)),
                    ":tps": num(float(tps)),
                    ":exp": num(int(now + self._expiry_s)),
                    ":one": num(1),
                },
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise InstanceNotFound(instance_id) from None
        return item_to_instance(resp["Attributes"])

    def credential_hash(self, instance_id: str) -> str | None:
        item = self.get_item(instance_id)
        if item is None or "credential_hash" not in item:
            return None
        return item["credential_hash"]["S"]

    # -- health and breaker state ------------------------------------------------------------
    def apply(self, instance_id: str, change: Callable[[Instance], Instance | None]) -> Instance:
        """Read-modify-write with optimistic concurrency on `rev`.

        `change` gets the current instance and returns the new one (or None for no change); it
        may be called several times and must be a pure function of its argument.
        """
        for attempt in range(MAX_CONDITIONAL_RETRIES):
            if attempt:
                time.sleep(random.uniform(0, min(RETRY_PAUSE_CAP_S, 0.002 * 2**attempt)))
            current = self.get(instance_id)
            if current is None:
                raise InstanceNotFound(instance_id)
            updated = change(current)
            if updated is None or updated == current:
                return current
            if self._write_if_unchanged(current, updated):
                return replace(updated, rev=current.rev + 1)
        raise ConcurrentUpdate(instance_id)

    _MUTABLE = (
        "status",
        "breaker_state",
        "breaker_opened_at",
        "consecutive_failures",
        "ejection_count",
        "ejected_until",
        "latency_ewma_ms",
        "weight",
    )

    def _write_if_unchanged(self, current: Instance, updated: Instance) -> bool:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":expected": num(current.rev), ":one": num(1)}
        sets = []
        for i, field_name in enumerate(self._MUTABLE):
            new = getattr(updated, field_name)
            if new == getattr(current, field_name):
                continue
            names[f"#f{i}"] = field_name
            values[f":v{i}"] = {"S": new} if isinstance(new, str) else num(new)
            sets.append(f"#f{i} = :v{i}")
        if not sets:
            return True
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": INSTANCES_PK}, "sk": {"S": current.instance_id}},
                UpdateExpression="SET " + ", ".join(sets) + " ADD rev :one",
                ConditionExpression="rev = :expected",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- registration tokens -----------------------------------------------------------------
    def consume_token(self, token_id: str, expires_at: float) -> bool:
        """Mark a registration token used; False when it was used before (single use)."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"token#{token_id}"},
                    "sk": {"S": "token"},
                    "used_at": num(self._clock()),
                    # Keep the marker until the token could no longer be valid anyway.
                    "expires_at": num(int(expires_at) + 60),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- runtime routing configuration (rollouts, strategies) --------------------------------
    def put_config(self, name: str, value: dict[str, Any]) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": CONFIG_PK},
                "sk": {"S": name},
                "value": {"S": json.dumps(value, sort_keys=True)},
                "updated_at": num(self._clock()),
            },
        )

    def put_config_if(self, name: str, value: dict[str, Any], expected: dict[str, Any]) -> bool:
        """Replace a config item only if it still holds `expected`; False if it changed."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": CONFIG_PK},
                    "sk": {"S": name},
                    "value": {"S": json.dumps(value, sort_keys=True)},
                    "updated_at": num(self._clock()),
                },
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={
                    ":expected": {"S": json.dumps(expected, sort_keys=True)}
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list_config(self) -> dict[str, dict[str, Any]]:
        return {item["sk"]["S"]: json.loads(item["value"]["S"]) for item in self._query(CONFIG_PK)}

    def delete_config(self, name: str) -> None:
        self._client.delete_item(
            TableName=self._table, Key={"pk": {"S": CONFIG_PK}, "sk": {"S": name}}
        )
