"""Argument parsing and dispatch for `motherfluxer`; exit codes are listed in `--help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from motherfluxer_cli import __version__, account, admin
from motherfluxer_cli.chat import request_for, run_chat
from motherfluxer_cli.client import (
    FAILED,
    OK,
    USAGE,
    Client,
    CliError,
    resolve_key,
    resolve_url,
)
from motherfluxer_cli.doctor import as_rows, run_doctor
from motherfluxer_cli.output import emit_json, paint, table
from motherfluxer_cli.validate import default_targets, validate_file

EPILOG = """\
The router is found from --url, MOTHERFLUXER_URL, or .local/router_url (written by `make run`),
else http://127.0.0.1:8080. The key is --key, else MOTHERFLUXER_ADMIN_KEY / MOTHERFLUXER_API_KEY,
else the local stack's .local/admin_key and .local/api_key (sent to a loopback router only).

exit codes: 0 ok, 1 failed (API error or a check/validation failed), 2 usage error,
3 router unreachable, 4 key missing or refused (401/403)."""

GOALS = ("quality", "cost", "latency")
ADMIN_COMMANDS = {"users", "keys", "budget", "instances", "rollout", "tokens", "usage"}


def _common(suppress: bool) -> argparse.ArgumentParser:
    # The same options before or after the command; after it they must not reset the
    # values given before, hence SUPPRESS as their default there.
    quiet = {"default": argparse.SUPPRESS} if suppress else {}
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--url", help="router base URL", **({"default": None} | quiet))
    p.add_argument("--key", help="API key or admin key", **({"default": None} | quiet))
    p.add_argument("--json", action="store_true", help="machine-readable output", **quiet)
    p.add_argument(
        "--timeout", type=float, help="seconds per request", **({"default": 15.0} | quiet)
    )
    return p


COMMON = _common(suppress=True)


def _add(sub: argparse._SubParsersAction, name: str, **kw: object) -> argparse.ArgumentParser:
    return sub.add_parser(name, parents=[COMMON], **kw)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        parents=[_common(suppress=False)],
        prog="motherfluxer",
        description="Operate a MotherFluxer router through its public API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"motherfluxer {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    v = _add(sub, "validate", help="check the catalog, stage config and rules files")
    v.add_argument("config", nargs="*", type=Path, help="files (default: local catalog, cdk.json)")
    _add(sub, "doctor", help="is every component reachable, every model ready, keys valid?")

    u = _add(sub, "users", help="create users, list every user")
    us = u.add_subparsers(dest="action", required=True)
    uc = _add(us, "create")
    uc.add_argument("name")
    uc.add_argument("--tier", choices=("registered", "admin"), default="registered")
    ul = _add(us, "list")
    ul.add_argument("--limit", type=int, default=100, help="users per page (1-500)")
    ul.add_argument("--offset", type=int, default=0)
    ul.add_argument("--all", action="store_true", help="every page")

    k = _add(sub, "keys", help="list, create and revoke API keys (your own, or as admin)")
    ks = k.add_subparsers(dest="action", required=True)
    _add(ks, "list", help="your own keys (any user's key will do)")
    kc = _add(ks, "create", help="a key for USER_ID (admin), or for yourself without it")
    kc.add_argument("user_id", nargs="?")
    kc.add_argument("--name", help="a label for your own key")
    kc.add_argument("--tier", choices=("registered", "admin"))
    kc.add_argument("--scope", action="append")
    kc.add_argument("--expires", help="ISO 8601 expiry time")
    kc.add_argument(
        "--optimize", choices=GOALS, help="the key's default routing goal (a request may override)"
    )
    ko = _add(ks, "set-optimize", help="change a key's default routing goal")
    ko.add_argument("prefix")
    ko.add_argument("goal", choices=(*GOALS, "none"))
    kr = _add(ks, "revoke", help="as admin any key; with a user's key (or --mine) your own")
    kr.add_argument("prefix")
    kr.add_argument("--mine", action="store_true", help="one of your own keys")

    b = _add(sub, "budget", help="set a user's budget, or show your own")
    bs = b.add_subparsers(dest="action", required=True)
    _add(bs, "show", help="your own budget, spend and reset")
    bset = _add(bs, "set")
    bset.add_argument("user_id")
    bset.add_argument("usd")
    bset.add_argument("--period", choices=("total", "monthly"), default="total")

    i = _add(sub, "instances", help="list, drain and undrain model instances")
    ins = i.add_subparsers(dest="action", required=True)
    il = _add(ins, "list")
    il.add_argument("--model")
    for action in ("drain", "undrain"):
        _add(ins, action).add_argument("instance_id")

    r = _add(sub, "rollout", help="version weights: show, set, canary, switch, rollback")
    rs = r.add_subparsers(dest="action", required=True)
    _add(rs, "show").add_argument("model", nargs="?")
    rset = _add(rs, "set")
    rset.add_argument("model")
    rset.add_argument("weights", nargs="+", metavar="VERSION=WEIGHT")
    rc = _add(rs, "canary")
    rc.add_argument("model")
    rc.add_argument("version", help="the canary version")
    rc.add_argument("percent", type=float)
    rc.add_argument("--stable", help="default: the version with the most traffic now")
    for action in ("switch", "rollback"):
        ra = _add(rs, action)
        ra.add_argument("model")
        ra.add_argument("version")

    t = _add(sub, "tokens", help="single-use registration tokens for new instances")
    ts = t.add_subparsers(dest="action", required=True)
    tc = _add(ts, "create")
    tc.add_argument("model")
    tc.add_argument("--ttl", type=int, default=600)

    g = _add(sub, "usage", help="usage reports per model, version and user")
    gs = g.add_subparsers(dest="action", required=True)
    gr = _add(gs, "report")
    for name in ("user", "model", "version", "since", "until"):
        gr.add_argument(f"--{name}")
    gr.add_argument("--limit", type=int, default=1000)

    c = _add(sub, "chat", help="a streamed chat that prints the route card")
    c.add_argument("prompt")
    c.add_argument("--model", help="a model id, or auto (default)")
    c.add_argument("--preferred", help="hybrid mode: the preferred model")
    c.add_argument("--fallback", default="auto", help="hybrid: auto, none, or a,b,c")
    c.add_argument("--max-tokens", type=int, default=64)
    return p


def _validate(args: argparse.Namespace) -> int:
    targets = args.config or default_targets()
    if not targets:
        print("validate: no config given and none found here", file=sys.stderr)
        return USAGE
    report, bad = [], 0
    for path in targets:
        kind, errors = validate_file(path)
        bad += len(errors)
        report.append({"file": str(path), "kind": kind, "errors": errors})
        if not args.json:
            state = paint("ok", True) if not errors else paint(f"{len(errors)} error(s)", False)
            print(f"{path} ({kind}): {state}")
            for line in errors:
                print(f"  {path}: {line}")
    if args.json:
        emit_json(report)
    return FAILED if bad else OK


def _doctor(args: argparse.Namespace, url: str) -> int:
    api_key = resolve_key(args.key, url, admin=False)
    admin_key = resolve_key(args.key, url, admin=True)
    code, checks = run_doctor(url, api_key, admin_key, timeout_s=min(args.timeout, 5.0))
    if args.json:
        emit_json({"ok": code == OK, "checks": as_rows(checks)})
        return code
    rows = [
        {
            "component": c.component,
            "state": paint("ok" if c.ok else "DOWN", c.ok),
            "detail": c.detail,
        }
        for c in checks
    ]
    print(table(rows, (("component", "COMPONENT"), ("state", "STATE"), ("detail", "DETAIL"))))
    down = [c.component for c in checks if not c.ok]
    print("\nall green" if not down else f"\nnot healthy: {', '.join(down)}")
    return code


def _chat(args: argparse.Namespace, client: Client) -> int:
    path, body, kind = request_for(
        args.prompt, args.model, args.preferred, args.fallback, args.max_tokens
    )
    result = run_chat(client, path, body, kind, quiet=args.json)
    if args.json:
        emit_json(result)
    else:
        rows = [{"field": k, "value": v} for k, v in result["route"].items()]
        print(table(rows, (("field", "ROUTE"), ("value", ""))))
    return OK


def _acts_on_own_account(args: argparse.Namespace) -> bool:
    """Commands a user's key runs for itself: they look for the user's key first."""
    if args.command == "keys":
        return account.wants_own_keys(args)
    return args.command == "budget" and args.action == "show"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        url = resolve_url(args.url)
        if args.command == "doctor":
            return _doctor(args, url)
        admin_cmd = args.command in ADMIN_COMMANDS and not _acts_on_own_account(args)
        client = Client(url, resolve_key(args.key, url, admin=admin_cmd), args.timeout)
        if args.command == "chat":
            return _chat(args, client)
        getattr(admin, args.command)(client, args)
        return OK
    except CliError as exc:
        print(f"motherfluxer: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
