"""`motherfluxer` against a running local stack: outputs, effects and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devstack.procs import free_port
from motherfluxer_cli.client import resolve_key

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_doctor_is_all_green_against_the_running_stack(cli, console_stack) -> None:
    code, out, _ = cli("doctor", "--url", console_stack.url, "--key", console_stack.admin_key)
    assert code == 0, out
    assert out.rstrip().endswith("all green")
    code, out, _ = cli(
        "--json", "doctor", "--url", console_stack.url, "--key", console_stack.admin_key
    )
    report = json.loads(out)
    components = {c["component"]: c["ok"] for c in report["checks"]}
    assert report["ok"] and all(components.values())
    for name in ("router", "registry", "accounts", "instances", "admin key", "console"):
        assert name in components
    assert {f"model {m['id']}" for m in console_stack.catalog["models"]} <= set(components)


def test_doctor_names_what_is_down(cli, console_stack) -> None:
    # A stopped stack: nothing listens on the port.
    code, out, _ = cli("doctor", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 3
    assert "router" in out and "DOWN" in out and "not healthy: router" in out
    # A running stack with a key that is not valid there.
    code, out, _ = cli("--json", "doctor", "--url", console_stack.url, "--key", "mf_admin_wrong")
    report = json.loads(out)
    failed = {c["component"] for c in report["checks"] if not c["ok"]}
    assert code == 1 and "admin key" in failed and "router" not in failed


def test_the_console_script_exits_non_zero_against_a_stopped_stack(isolated) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "motherfluxer_cli", "doctor"],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT / "cli"),
            "MOTHERFLUXER_URL": f"http://127.0.0.1:{free_port()}",
            "MOTHERFLUXER_DATA_DIR": str(isolated / "none"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=isolated,
    )
    assert done.returncode == 3
    assert "cannot reach the router" in done.stdout


def test_no_flags_needed_next_to_make_run_files(cli, console_stack, isolated) -> None:
    data = isolated / "data"
    data.mkdir()
    (data / "router_url").write_text(console_stack.url + "\n")
    (data / "admin_key").write_text(console_stack.admin_key + "\n")
    code, out, _ = cli("instances", "list", "--json")
    assert code == 0
    assert {i["model"] for i in json.loads(out)} == {
        m["id"] for m in console_stack.catalog["models"]
    }
    # The local key files are never sent to a router that is not on this machine.
    assert resolve_key(None, "https://api.example.com", admin=True) is None
    assert resolve_key(None, console_stack.url, admin=True) == console_stack.admin_key


def test_user_key_budget_chat_usage_and_revocation(cli, admin_cli, console_stack) -> None:
    code, user = admin_cli("users", "create", "cli-person")
    assert code == 0
    code, key = admin_cli("keys", "create", user["user_id"])
    assert code == 0 and key["key"].startswith("mf_")
    code, budget = admin_cli("budget", "set", user["user_id"], "2.50", "--period", "monthly")
    assert code == 0 and budget == {"user_id": user["user_id"], "usd": "2.50", "period": "monthly"}

    code, out, _ = cli(
        "--url",
        console_stack.url,
        "--key",
        key["key"],
        "chat",
        "one two three",
        "--model",
        "tiny-coder",
        "--max-tokens",
        "5",
    )
    assert code == 0
    text, card = out.split("\nROUTE", 1)
    assert text.split() == ["one", "two", "three", "one", "two"]
    assert "tiny-coder" in card and "manual: model=tiny-coder" in card

    code, report = admin_cli("usage", "report", "--user", user["user_id"])
    assert code == 0
    assert report["totals"]["requests"] == 1
    assert report["by_model"][0]["model"] == "tiny-coder"

    code, revoked = admin_cli("keys", "revoke", key["prefix"])
    assert code == 0 and revoked["revoked"] is True
    code, _, err = cli("--url", console_stack.url, "--key", key["key"], "chat", "hi")
    assert code == 4 and "HTTP 401" in err


def test_chat_modes_print_the_route_card(cli, console_stack) -> None:
    base = ("--url", console_stack.url, "--key", console_stack.api_key, "--json", "chat")
    code, out, _ = cli(*base, "write a python function", "--max-tokens", "4")
    auto = json.loads(out)
    assert code == 0 and auto["route"]["reason"].startswith("auto:")
    code, out, _ = cli(*base, "hello there", "--preferred", "tiny-chat", "--fallback", "none")
    hybrid = json.loads(out)
    assert hybrid["route"]["model"] == "tiny-chat"
    assert hybrid["route"]["reason"].startswith("hybrid: preferred=tiny-chat")
    assert hybrid["text"].startswith("hello there")
    # The streamed cost is settled after the stream; the key holder's ledger supplies it.
    assert float(hybrid["route"]["cost_usd"]) > 0


def test_instances_drain_undrain(admin_cli) -> None:
    code, listed = admin_cli("instances", "list", "--model", "tiny-chat")
    target = listed[0]["instance_id"]
    code, drained = admin_cli("instances", "drain", target)
    assert code == 0 and drained["status"] == "draining"
    code, listed = admin_cli("instances", "list")
    assert next(i for i in listed if i["instance_id"] == target)["status"] == "draining"
    code, back = admin_cli("instances", "undrain", target)
    assert code == 0 and back["status"] == "healthy"
    code, err = admin_cli("instances", "drain", "no-such-instance")
    assert code == 1 and "not registered" in err


def test_rollout_set_canary_show_rollback(admin_cli, cli, console_stack) -> None:
    code, res = admin_cli("rollout", "canary", "tiny-coder", "v2", "25")
    assert code == 0 and res["weights"] == {"v1": 75.0, "v2": 25.0}
    code, res = admin_cli("rollout", "set", "tiny-coder", "v1=40", "v2=60")
    assert res["weights"] == {"v1": 40.0, "v2": 60.0}
    code, out, _ = cli(
        "--url",
        console_stack.url,
        "--key",
        console_stack.admin_key,
        "rollout",
        "show",
        "tiny-coder",
    )
    assert "v1 40%, v2 60%" in out
    code, res = admin_cli("rollout", "rollback", "tiny-coder", "v1")
    assert code == 0 and res["weights"]["v1"] == 100.0
    code, _, err = cli("--url", console_stack.url, "rollout", "set", "tiny-coder", "v1:40")
    assert code == 2 and "VERSION=WEIGHT" in err


def test_tokens_create_gives_a_token_that_registers_once(admin_cli, console_stack) -> None:
    code, res = admin_cli("tokens", "create", "tiny-chat", "--ttl", "60")
    assert code == 0 and res["expires_in"] == 60
    body = {"token": res["token"], "model": "tiny-chat", "base_url": "http://127.0.0.1:9"}
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        first = client.post("/instances/register", json=body)
        assert first.status_code == 201
        assert client.post("/instances/register", json=body).status_code == 409
        admin = {"Authorization": f"Bearer {console_stack.admin_key}"}
        # Tidy up: the fake instance never answers, so it must not stay in the pool.
        client.delete(f"/instances/{first.json()['instance_id']}", headers=admin)


def test_admin_commands_need_a_key(cli, console_stack) -> None:
    code, _, err = cli("--url", console_stack.url, "instances", "list")
    assert code == 4 and "HTTP 401" in err
