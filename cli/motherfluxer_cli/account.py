"""A signed-in user's own keys and budget, through `/v1/keys` and `/v1/budget`.

These run with any user's key (no admin needed): `keys list`, `keys create` without a user id,
`keys revoke --mine` (or any revoke made with a user's key), and `budget show`.
"""

from __future__ import annotations

import argparse
import re
from typing import Any
from urllib.parse import quote

from motherfluxer_cli.client import Client
from motherfluxer_cli.output import emit_json, table

USER_KEY = re.compile(r"^mf_[a-z2-7]{8}_[A-Za-z0-9_\-]{43}$")
KEY_COLUMNS = (
    ("prefix", "PREFIX"),
    ("name", "NAME"),
    ("created_at", "CREATED"),
    ("last_used_at", "LAST USED"),
    ("expires_at", "EXPIRES"),
    ("state", "STATE"),
)


def is_user_credential(key: str | None) -> bool:
    """A user's own API key or a Cognito token, as opposed to the operator's admin key."""
    if not key:
        return False
    return bool(USER_KEY.match(key)) or (key.count(".") == 2 and key.startswith("eyJ"))


def wants_own_keys(args: argparse.Namespace) -> bool:
    """Does this `keys` command act on the caller's own keys?"""
    if args.action == "list":
        return True
    if args.action == "create":
        return args.user_id is None
    return bool(getattr(args, "mine", False))


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        emit_json(data)
    else:
        print(text)


def list_keys(client: Client, args: argparse.Namespace) -> None:
    res = client.get("/v1/keys")
    rows = [
        {
            **r,
            "state": "revoked"
            if r["revoked"]
            else ("active (this key)" if r.get("current") else "active"),
        }
        for r in res["data"]
    ]
    _emit(args, res["data"], table(rows, KEY_COLUMNS))


def create_key(client: Client, args: argparse.Namespace) -> None:
    body: dict[str, Any] = {}
    if args.name:
        body["name"] = args.name
    if args.scope:
        body["scopes"] = args.scope
    if args.expires:
        body["expires_at"] = args.expires
    res = client.call("POST", "/v1/keys", body).data
    _emit(args, res, f"{res['key']}\n(prefix {res['prefix']}; shown once, store it now)")


def revoke_key(client: Client, args: argparse.Namespace) -> None:
    res = client.call("DELETE", f"/v1/keys/{quote(args.prefix, safe='')}").data
    note = " (the key this command signed with: it no longer works)" if res["signed_out"] else ""
    _emit(args, res, f"revoked key {args.prefix}{note}")


def show_budget(client: Client, args: argparse.Namespace) -> None:
    res = client.get("/v1/budget")
    if res["limit_usd"] is None:
        text = f"no budget set; spent ${res['spent_usd']} so far"
    else:
        text = (
            f"budget ${res['limit_usd']} ({res['period']}): spent ${res['spent_usd']}, "
            f"remaining ${res['remaining_usd']}"
        )
        if res.get("resets_at"):
            text += f", resets {res['resets_at']}"
    _emit(args, res, text)
