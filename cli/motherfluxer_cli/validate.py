"""`motherfluxer validate [config]`: the catalog, stage config and rules, one error per problem."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from motherfluxer_cli.client import CHECKOUT


def _importable() -> None:
    # The validators are the project's own pydantic models; from a checkout they sit beside us.
    for path in (CHECKOUT / "lambdas", CHECKOUT):
        if (path / "routing").is_dir() or (path / "infra").is_dir():
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))


def _pydantic_errors(exc: Any, root: str) -> list[str]:
    from infra.config import format_errors

    return format_errors(exc, root).splitlines()


def _catalog_errors(doc: dict[str, Any]) -> list[str]:
    from pydantic import ValidationError

    from routing.catalog import Catalog
    from routing.rules import load_rules

    try:
        catalog = Catalog.model_validate({"models": doc.get("models", [])})
    except ValidationError as exc:
        return _pydantic_errors(exc, "")
    if "rules" not in doc:
        return []
    try:
        load_rules(doc["rules"], catalog)
    except ValidationError as exc:
        return _pydantic_errors(exc, "")
    except ValueError as exc:
        return [f"rules: {exc}"]
    return []


def _stage_errors(doc: dict[str, Any]) -> list[str]:
    from infra.config import ConfigError, load_config

    try:
        load_config(doc.get("context", doc))
    except ConfigError as exc:
        return str(exc).splitlines()
    return []


def validate_file(path: Path) -> tuple[str, list[str]]:
    """(what the file is, its errors); each error names the field it is about."""
    _importable()
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return "missing", [f"{path}: no such file"]
    except json.JSONDecodeError as exc:
        return "json", [f"line {exc.lineno} column {exc.colno}: {exc.msg}"]
    if not isinstance(doc, dict):
        return "json", ["the document must be a JSON object"]
    if "stages" in doc or "stages" in doc.get("context", {}):
        return "stage config", _stage_errors(doc)
    if "models" in doc:
        return "catalog", _catalog_errors(doc)
    if "rules" in doc:
        return "rules", _rules_only(doc)
    return "unknown", ["expected a catalog (models), stage config (stages) or rules document"]


def _rules_only(doc: dict[str, Any]) -> list[str]:
    from pydantic import ValidationError

    from routing.rules import load_rules

    try:
        load_rules(doc["rules"])
    except ValidationError as exc:
        return _pydantic_errors(exc, "")
    return []


def default_targets() -> list[Path]:
    """What `make run` and `cdk deploy` read: the local catalog and cdk.json's stages."""
    found = []
    for base in (Path.cwd(), CHECKOUT):
        for rel in ("devstack/local.json", "cdk.json"):
            path = base / rel
            if path.is_file() and path.resolve() not in [p.resolve() for p in found]:
                found.append(path)
        if found:
            break
    return found
