"""The admin commands: users, keys, budgets, instances, rollouts, tokens, usage."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from motherfluxer_cli import account
from motherfluxer_cli.client import USAGE, Client, CliError
from motherfluxer_cli.output import emit_json, table

INSTANCE_COLUMNS = (
    ("instance_id", "INSTANCE"),
    ("model", "MODEL"),
    ("version", "VERSION"),
    ("status", "STATE"),
    ("breaker_state", "BREAKER"),
    ("in_flight", "IN FLIGHT"),
    ("heartbeat_age_s", "HEARTBEAT AGE S"),
    ("latency_ewma_ms", "LATENCY MS"),
)
USER_COLUMNS = (
    ("id", "USER"),
    ("name", "NAME"),
    ("tier", "TIER"),
    ("created_at", "CREATED"),
    ("keys", "KEYS"),
    ("budget_usd", "BUDGET USD"),
    ("budget_period", "PERIOD"),
    ("spent_usd", "SPENT USD"),
)
GROUP_COLUMNS = (
    ("requests", "REQUESTS"),
    ("tokens_in", "TOKENS IN"),
    ("tokens_out", "TOKENS OUT"),
    ("cost_usd", "COST USD"),
    ("avg_latency_ms", "AVG LATENCY MS"),
    ("errors", "ERRORS"),
)


def _show(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        emit_json(data)
    else:
        print(text)


def users(client: Client, args: argparse.Namespace) -> None:
    if args.action == "create":
        res = client.call("POST", "/admin/users", {"name": args.name, "tier": args.tier}).data
        _show(args, res, f"created user {args.name} ({args.tier}): {res['user_id']}")
        return
    rows, offset = [], args.offset
    while True:
        page = client.get("/admin/users", limit=args.limit, offset=offset)
        rows += page["data"]
        offset = page["next_offset"]
        if not args.all or offset is None:
            break
    _show(args, rows, table(rows, USER_COLUMNS) + _more(page, args.all))


def _more(page: dict[str, Any], everything: bool) -> str:
    if everything or page["next_offset"] is None:
        return f"\n({page['total']} users)"
    return f"\n({page['total']} users; more with --offset {page['next_offset']} or --all)"


def keys(client: Client, args: argparse.Namespace) -> None:
    if account.wants_own_keys(args) or (
        args.action == "revoke" and account.is_user_credential(client.key)
    ):
        {"list": account.list_keys, "create": account.create_key, "revoke": account.revoke_key}[
            args.action
        ](client, args)
        return
    if args.action == "create":
        body: dict[str, Any] = {"scopes": args.scope or []}
        if args.tier:
            body["tier"] = args.tier
        if args.expires:
            body["expires_at"] = args.expires
        if args.optimize:
            body["optimize"] = args.optimize
        res = client.call("POST", f"/admin/users/{quote(args.user_id)}/keys", body).data
        _show(args, res, f"{res['key']}\n(prefix {res['prefix']}; shown once, store it now)")
        return
    if args.action == "set-optimize":
        goal = None if args.goal == "none" else args.goal
        res = client.call("PATCH", f"/admin/keys/{quote(args.prefix)}", {"optimize": goal}).data
        _show(args, res, f"key {args.prefix}: optimize {res['optimize'] or 'balanced'}")
        return
    res = client.call("DELETE", f"/admin/keys/{quote(args.prefix)}").data
    _show(args, res, f"revoked key {args.prefix}")


def budget(client: Client, args: argparse.Namespace) -> None:
    if args.action == "show":
        account.show_budget(client, args)
        return
    body = {"usd": args.usd, "period": args.period}
    res = client.call("PUT", f"/admin/users/{quote(args.user_id)}/budget", body).data
    _show(args, res, f"budget for {args.user_id}: ${res['usd']} ({res['period']})")


def instances(client: Client, args: argparse.Namespace) -> None:
    if args.action == "list":
        rows = client.get("/admin/instances")["data"]
        if args.model:
            rows = [r for r in rows if r["model"] == args.model]
        _show(args, rows, table(rows, INSTANCE_COLUMNS))
        return
    res = client.call("POST", f"/admin/instances/{quote(args.instance_id)}/{args.action}").data
    _show(args, res, f"{res['instance_id']}: {res['status']}")


def _weights_text(weights: dict[str, float]) -> str:
    return ", ".join(f"{v} {w:g}%" for v, w in weights.items())


def rollout(client: Client, args: argparse.Namespace) -> None:
    if args.action == "show":
        res = client.get("/admin/rollouts")
        rows = [
            {"model": m, "weights": _weights_text(w), "strategy": res["strategies"].get(m)}
            for m, w in sorted(res["rollouts"].items())
            if not args.model or m == args.model
        ]
        cols = (("model", "MODEL"), ("weights", "WEIGHTS"), ("strategy", "STRATEGY"))
        _show(args, res, table(rows, cols))
        return
    if args.action == "set":
        weights = {}
        for pair in args.weights:
            version, sep, weight = pair.partition("=")
            if not sep:
                raise CliError(f"weights: expected VERSION=WEIGHT, got {pair!r}", USAGE)
            try:
                weights[version] = float(weight)
            except ValueError:
                raise CliError(f"weights: {weight!r} is not a number", USAGE) from None
        change: dict[str, Any] = {"weights": weights}
    elif args.action == "canary":
        stable = args.stable or _top_version(client, args.model)
        change = {"canary": {"stable": stable, "canary": args.version, "percent": args.percent}}
    elif args.action == "switch":
        change = {"switch": args.version}
    else:
        change = {"rollback": args.version}
    res = client.call("PUT", f"/admin/models/{quote(args.model, safe='')}/rollout", change).data
    _show(args, res, f"{res['model']}: {_weights_text(res['weights'])}")


def _top_version(client: Client, model: str) -> str:
    weights = client.get("/admin/rollouts")["rollouts"].get(model) or {}
    if not weights:
        raise CliError(f"model {model!r} has no rollout; give --stable", USAGE)
    return max(weights.items(), key=lambda kv: kv[1])[0]


def tokens(client: Client, args: argparse.Namespace) -> None:
    body = {"model": args.model, "ttl_seconds": args.ttl}
    res = client.call("POST", "/admin/registration-tokens", body).data
    cmd = (
        f"docker run --gpus all -p 8080:8080 -e SERVED_MODEL_NAME={args.model} "
        f"-e MOTHERFLUXER_ROUTER_URL={client.url} -e MOTHERFLUXER_PUBLIC_URL=http://<host>:8080 "
        f"-e MOTHERFLUXER_REGISTRATION_TOKEN={res['token']} motherfluxer-model serve"
    )
    _show(
        args,
        res,
        f"{res['token']}\n(single use, for {args.model}, valid {res['expires_in']} s)\n\n{cmd}",
    )


def usage(client: Client, args: argparse.Namespace) -> None:
    res = client.get(
        "/admin/usage",
        user_id=args.user,
        model=args.model,
        version=args.version,
        since=args.since,
        until=args.until,
        limit=args.limit,
    )
    if args.json:
        emit_json(res)
        return
    totals = res.get("totals") or {}
    parts = [
        f"total: {totals.get('requests', 0)} requests, "
        f"{totals.get('tokens_in', 0)} tokens in, {totals.get('tokens_out', 0)} out, "
        f"${totals.get('cost_usd', 0)}",
        "\nby model\n" + table(res["by_model"], (("model", "MODEL"), *GROUP_COLUMNS)),
        "\nby version\n"
        + table(res["by_version"], (("model", "MODEL"), ("version", "VERSION"), *GROUP_COLUMNS)),
        "\nby user\n" + table(res["by_user"], (("user_id", "USER"), *GROUP_COLUMNS)),
    ]
    print("\n".join(parts))
