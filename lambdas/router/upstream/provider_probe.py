"""The optional active probe of an external model: one cheap models-list call per round.

Off by default (`MOTHERFLUXER_PROVIDER_PROBES=true` turns it on) because every probe is a
request the provider may count or bill; passive health (breaker, ejection) needs none.
Bedrock has no models list on its runtime endpoint, so it is never probed actively.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from router.upstream.anthropic import API_VERSION
from router.upstream.credentials import Credentials, canonical
from router.upstream.openai_compat import AZURE_API_VERSION
from routing.instances import Instance


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("MOTHERFLUXER_PROVIDER_PROBES", "").lower() == "true"


def probe_request(
    instance: Instance, credentials: Credentials | None = None
) -> tuple[str, dict[str, str]] | None:
    """(URL, headers) of the models-list call for this instance; None if it has none."""
    provider = canonical(instance.tags.get("provider", ""))
    if provider == "bedrock":
        return None
    access = (credentials or Credentials()).resolve(provider, instance.tags, instance.endpoint)
    if not access.base_url:
        return None
    key = access.api_key or ""
    if provider == "anthropic":
        return f"{access.base_url}/v1/models", {"x-api-key": key, "anthropic-version": API_VERSION}
    if provider == "gemini":
        return f"{access.base_url}/v1beta/models", {"x-goog-api-key": key}
    if provider == "azure":
        version = instance.tags.get("api_version", AZURE_API_VERSION)
        return f"{access.base_url}/openai/models?api-version={version}", {"api-key": key}
    return f"{access.base_url}/models", {"Authorization": f"Bearer {key}"}
