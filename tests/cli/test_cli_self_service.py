"""`motherfluxer keys|budget` with a user's own key, and `users list` of every user."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _user_cli(cli, url: str, key: str):
    def run(*argv: str) -> tuple[int, object, str]:
        code, out, err = cli("--url", url, "--key", key, "--json", *argv)
        return code, (json.loads(out) if out.strip() else None), err

    return run


def test_a_user_key_lists_creates_and_revokes_its_own_keys(cli, admin_cli, console_stack) -> None:
    _, user = admin_cli("users", "create", "cli-self")
    _, first = admin_cli("keys", "create", user["user_id"])
    mine = _user_cli(cli, console_stack.url, first["key"])

    code, made, _ = mine("keys", "create", "--name", "ci runner")
    assert code == 0 and made["key"].startswith("mf_") and made["name"] == "ci runner"
    code, listed, _ = mine("keys", "list")
    assert code == 0
    by_prefix = {k["prefix"]: k for k in listed}
    assert set(by_prefix) == {first["prefix"], made["prefix"]}
    assert by_prefix[first["prefix"]]["current"] is True
    assert by_prefix[made["prefix"]]["name"] == "ci runner"

    # The table for people names the key in use.
    code, out, _ = cli("--url", console_stack.url, "--key", first["key"], "keys", "list")
    assert code == 0 and "ci runner" in out and "active (this key)" in out

    # Another user's key is not theirs to revoke: 404, exit 1, and it keeps working.
    _, other = admin_cli("users", "create", "cli-other")
    _, theirs = admin_cli("keys", "create", other["user_id"])
    code, _, err = mine("keys", "revoke", theirs["prefix"])
    assert code == 1 and "HTTP 404" in err
    code, _, _ = _user_cli(cli, console_stack.url, theirs["key"])("keys", "list")
    assert code == 0

    code, res, _ = mine("keys", "revoke", made["prefix"])
    assert code == 0 and res == {"prefix": made["prefix"], "revoked": True, "signed_out": False}
    # Revoking the key the command signs with: done, said so, and the key is dead.
    code, out, _ = cli(
        "--url", console_stack.url, "--key", first["key"], "keys", "revoke", first["prefix"]
    )
    assert code == 0 and "no longer works" in out
    code, _, err = mine("keys", "list")
    assert code == 4 and "HTTP 401" in err


def test_budget_show_for_the_user_and_users_list_of_everyone(cli, admin_cli, console_stack) -> None:
    _, user = admin_cli("users", "create", "cli-budget-person")
    _, key = admin_cli("keys", "create", user["user_id"])
    mine = _user_cli(cli, console_stack.url, key["key"])
    code, none, _ = mine("budget", "show")
    assert code == 0 and none["limit_usd"] is None
    admin_cli("budget", "set", user["user_id"], "3", "--period", "monthly")
    code, budget, _ = mine("budget", "show")
    assert code == 0 and budget["limit_usd"] == "3" and budget["resets_at"]
    code, out, _ = cli("--url", console_stack.url, "--key", key["key"], "budget", "show")
    assert code == 0 and out.startswith("budget $3 (monthly): spent $0, remaining $3")

    # Every user, usage or not; this one has never sent a request.
    code, everyone = admin_cli("users", "list", "--all", "--limit", "2")
    assert code == 0
    found = next(u for u in everyone if u["id"] == user["user_id"])
    assert found["keys"] == 1 and found["budget_usd"] == "3" and found["spent_usd"] == "0"
    assert len({u["id"] for u in everyone}) == len(everyone)
    code, first_page = admin_cli("users", "list", "--limit", "1")
    assert code == 0 and len(first_page) == 1
    code, out, _ = cli(
        "--url",
        console_stack.url,
        "--key",
        console_stack.admin_key,
        "users",
        "list",
        "--limit",
        "1",
    )
    assert "more with --offset 1" in out and "BUDGET USD" in out
    # A user's key is not an admin's.
    code, _, err = mine("users", "list")
    assert code == 4 and "HTTP 403" in err
