"""Conversion between `routing.instances.Instance` and DynamoDB items (low-level client format)."""

from __future__ import annotations

from typing import Any

from routing.instances import Instance

INSTANCES_PK = "instances"

_NUMBERS = (
    "last_heartbeat",
    "in_flight",
    "queue_depth",
    "latency_ewma_ms",
    "tokens_per_second",
    "weight",
    "rev",
    "breaker_opened_at",
    "consecutive_failures",
    "ejection_count",
    "ejected_until",
    "lease_seconds",
)
_INTS = {"in_flight", "queue_depth", "rev", "consecutive_failures", "ejection_count"}
_STRINGS = ("model", "version", "kind", "endpoint", "status", "breaker_state")


def num(value: float | int) -> dict[str, str]:
    if isinstance(value, float):
        # DynamoDB numbers are decimal strings; repr keeps full float precision.
        return {"N": repr(round(value, 6))}
    return {"N": str(value)}


def instance_to_item(inst: Instance, **extra: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": INSTANCES_PK}, "sk": {"S": inst.instance_id}}
    for name in _STRINGS:
        item[name] = {"S": getattr(inst, name)}
    for name in _NUMBERS:
        item[name] = num(getattr(inst, name))
    if inst.tags:
        item["tags"] = {"M": {k: {"S": v} for k, v in inst.tags.items()}}
    item.update(extra)
    return item


def item_to_instance(item: dict[str, Any]) -> Instance:
    kwargs: dict[str, Any] = {"instance_id": item["sk"]["S"]}
    for name in _STRINGS:
        if name in item:
            kwargs[name] = item[name]["S"]
    for name in _NUMBERS:
        if name in item:
            raw = item[name]["N"]
            kwargs[name] = int(float(raw)) if name in _INTS else float(raw)
    if "tags" in item:
        kwargs["tags"] = {k: v["S"] for k, v in item["tags"]["M"].items()}
    return Instance(**kwargs)
