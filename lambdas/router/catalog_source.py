"""Where the router finds its model catalog: inline JSON, a file, or an SSM parameter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from router.settings import Settings
from routing.catalog import Catalog


def load_catalog(settings: Settings) -> tuple[Catalog, dict[str, Any]]:
    """The catalog plus the rest of the routing config in the same document (rules, ...)."""
    raw: Any
    if settings.catalog_json:
        raw = json.loads(settings.catalog_json)
    elif settings.catalog_file:
        raw = json.loads(Path(settings.catalog_file).read_text())
    elif settings.catalog_parameter:
        # Read once per cold start; Powertools caches it and keeps the call out of the hot path.
        from aws_lambda_powertools.utilities import parameters

        raw = parameters.get_parameter(settings.catalog_parameter, transform="json", max_age=300)
    else:
        raise RuntimeError(
            "no model catalog configured: set MOTHERFLUXER_CATALOG, MOTHERFLUXER_CATALOG_FILE "
            "or MOTHERFLUXER_CATALOG_PARAMETER"
        )
    if isinstance(raw, dict) and "models" in raw:
        extra = {k: v for k, v in raw.items() if k != "models"}
        return Catalog.model_validate({"models": raw["models"]}), extra
    return Catalog.model_validate({"models": raw}), {}
