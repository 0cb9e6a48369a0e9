"""The local profile of seed 004's lineup: every model whose provider key is in the environment.

`make run` serves these beside the tiny demo models. Each selected model becomes a catalog
entry (its `hosting` block removed) plus an external instance item, with the provider's base
URL left to the environment (`ANTHROPIC_BASE_URL`, `GEMINI_BASE_URL`, ...) at request time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from router.upstream.credentials import Credentials
from routing.instances import Instance

LINEUP = Path(__file__).resolve().parent / "lineup.json"


def _available(provider: str, env: Mapping[str, str]) -> bool:
    if provider == "bedrock":
        return bool(env.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME") or env.get("AWS_ACCESS_KEY_ID"))
    return Credentials(env=env).key_available(provider)


def select(
    env: Mapping[str, str] | None = None, path: Path = LINEUP
) -> tuple[list[dict[str, Any]], list[Instance]]:
    """(catalog entries, instances) for the lineup models whose keys are set."""
    env = os.environ if env is None else env
    models = json.loads(path.read_text())["models"]
    chosen = [m for m in models if _available(m["hosting"]["provider"], env)]
    ids = {m["id"] for m in chosen}
    entries, instances = [], []
    now = time.time()
    for model in chosen:
        hosting = model["hosting"]
        entry = {k: v for k, v in model.items() if k != "hosting"}
        entry["provider"] = hosting["provider"]
        if entry.get("fallback") not in ids:
            entry.pop("fallback", None)
        entries.append(entry)
        tags = {
            "provider": hosting["provider"],
            "upstream_model": hosting.get("provider_model") or model["id"],
        }
        instances.append(
            Instance(
                instance_id=f"ext-{model['id']}",
                model=model["id"],
                version="v1",
                kind="external",
                endpoint=str(hosting.get("base_url") or ""),
                status="healthy",
                last_heartbeat=now,
                lease_seconds=0.0,
                tags=tags,
            )
        )
    return entries, instances


def rules_for(model_ids: set[str], path: Path = LINEUP) -> list[dict[str, Any]]:
    """The lineup's routing rules (seed 004's goal routes) whose target model is served."""
    rules = json.loads(path.read_text()).get("rules", [])
    return [r for r in rules if r.get("action", {}).get("route_to") in model_ids]
