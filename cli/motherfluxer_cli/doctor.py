"""`motherfluxer doctor`: every component reachable and healthy, models ready, keys valid."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from motherfluxer_cli.client import FAILED, OK, UNREACHABLE, ApiError, Client, CliError


@dataclass
class Check:
    component: str
    ok: bool
    detail: str


def _router(client: Client) -> tuple[Check, dict[str, Any]]:
    try:
        body = client.call("GET", "/health").data or {}
    except ApiError as exc:
        # A 503 still answers: the router is up, something behind it is not.
        body = exc.body
    return Check("router", True, f"up at {client.url}, stage {body.get('stage')}"), body


def _components(health: dict[str, Any]) -> list[Check]:
    if health.get("instances") is None:
        detail = health.get("detail") or "the router cannot read its instance registry"
        checks = [Check("registry", False, detail)]
    else:
        checks = [Check("registry", True, f"{health['instances']} instances registered")]
    for name, state in sorted((health.get("components") or {}).items()):
        checks.append(Check(name, state == "ok", state))
    return checks


def _models(client: Client) -> list[Check]:
    try:
        models = client.get("/v1/models")["data"]
    except CliError as exc:
        return [Check("models", False, str(exc))]
    out = []
    for m in models:
        live = m.get("status") or {}
        healthy, total = live.get("healthy_instances", 0), live.get("instances", 0)
        out.append(Check(f"model {m['id']}", healthy > 0, f"{healthy}/{total} instances healthy"))
    return out or [Check("models", False, "the catalog is empty")]


def _key(client: Client, key: str | None, label: str, path: str) -> Check:
    if not key:
        return Check(label, False, "no key given (--key, MOTHERFLUXER_*_KEY or .local/)")
    probe = Client(client.url, key, client.timeout_s)
    try:
        probe.call("GET", path)
    except ApiError as exc:
        return Check(label, False, f"refused: {exc}")
    return Check(label, True, f"accepted ({key[:12]}…)")


def _instances(client: Client, admin_key: str | None) -> Check:
    if not admin_key:
        return Check("instances", False, "needs the admin key to list instances")
    try:
        data = Client(client.url, admin_key, client.timeout_s).get("/admin/instances")["data"]
    except CliError as exc:
        return Check("instances", False, str(exc))
    routable = sum(1 for i in data if i.get("routable"))
    stale = [i["instance_id"] for i in data if i.get("status_reason") == "stale heartbeat"]
    detail = f"{routable}/{len(data)} routable"
    if stale:
        detail += f"; stale heartbeat: {', '.join(stale)}"
    return Check("instances", routable > 0, detail)


def _console(client: Client) -> Check:
    try:
        client.call("GET", "/ui/config.json")
    except CliError as exc:
        return Check("console", False, f"/ui/ not served: {exc}")
    return Check("console", True, f"{client.url}/ui/")


def run_doctor(
    url: str, api_key: str | None, admin_key: str | None, timeout_s: float = 5.0
) -> tuple[int, list[Check]]:
    client = Client(url, None, timeout_s)
    try:
        router, health = _router(client)
    except CliError as exc:
        return UNREACHABLE, [Check("router", False, f"DOWN: {exc}")]
    checks = [router, *_components(health), *_models(client)]
    checks.append(_instances(client, admin_key))
    if api_key and api_key != admin_key:
        checks.append(_key(client, api_key, "api key", "/v1/usage"))
    checks.append(_key(client, admin_key, "admin key", "/admin/instances"))
    checks.append(_console(client))
    return (OK if all(c.ok for c in checks) else FAILED), checks


def as_rows(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
