"""`motherfluxer keys create --optimize` and `keys set-optimize` against the running stack."""

from __future__ import annotations


def test_a_keys_goal_is_set_on_create_and_changed_later(admin_cli, console_stack) -> None:
    code, user = admin_cli("users", "create", "goal-person")
    assert code == 0
    code, key = admin_cli("keys", "create", user["user_id"], "--optimize", "cost")
    assert code == 0 and key["optimize"] == "cost"
    code, changed = admin_cli("keys", "set-optimize", key["prefix"], "latency")
    assert code == 0 and changed == {"prefix": key["prefix"], "optimize": "latency"}
    code, cleared = admin_cli("keys", "set-optimize", key["prefix"], "none")
    assert code == 0 and cleared == {"prefix": key["prefix"], "optimize": None}
    code, _ = admin_cli("keys", "set-optimize", "zzzzzzzz", "cost")
    assert code != 0
