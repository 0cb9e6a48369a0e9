"""Where each provider lives and which key it takes: environment locally, Secrets Manager in AWS.

Base URLs are overridable with the variable the provider's official SDK reads (plus
`GEMINI_BASE_URL`, `DEEPSEEK_BASE_URL`, `MINIMAX_BASE_URL`), so a proxy, recorder or mock can
sit in between. A key found in an instance's `api_key_secret` tag (an ARN set by the CDK
stack) wins over the environment. Keys are returned to the caller only; nothing here logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderDefaults:
    key_env: tuple[str, ...]
    base_env: str | None
    default_base: str | None


PROVIDERS: dict[str, ProviderDefaults] = {
    "openai": ProviderDefaults(("OPENAI_API_KEY",), "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "azure": ProviderDefaults(("AZURE_OPENAI_API_KEY",), "AZURE_OPENAI_ENDPOINT", None),
    "deepseek": ProviderDefaults(
        ("DEEPSEEK_API_KEY",), "DEEPSEEK_BASE_URL", "https://api.deepseek.com/v1"
    ),
    "minimax": ProviderDefaults(
        ("MINIMAX_API_KEY",), "MINIMAX_BASE_URL", "https://api.minimax.io/v1"
    ),
    "anthropic": ProviderDefaults(
        ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL", "https://api.anthropic.com"
    ),
    "gemini": ProviderDefaults(
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        "GEMINI_BASE_URL",
        "https://generativelanguage.googleapis.com",
    ),
    # Bedrock signs with the AWS credential chain (the function's role); no key of its own.
    "bedrock": ProviderDefaults((), "AWS_ENDPOINT_URL_BEDROCK_RUNTIME", None),
}
# Catalog spellings that mean the same provider.
ALIASES = {
    "google": "gemini",
    "azure_openai": "azure",
    "openai_compatible": "openai",
    "vllm": "openai",
}


def canonical(provider: str) -> str:
    return ALIASES.get(provider, provider)


@dataclass(frozen=True, slots=True)
class ProviderAccess:
    base_url: str | None
    api_key: str | None = None

    def __repr__(self) -> str:
        # Never print a key, even by accident in a traceback or a debug log.
        return (
            f"ProviderAccess(base_url={self.base_url!r}, api_key={'***' if self.api_key else None})"
        )


def _secret(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=300))


class Credentials:
    """Resolves (base URL, key) for an external instance; env and secrets are injectable."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        secret: Callable[[str], str] = _secret,
    ) -> None:
        self._env = env
        self._secret = secret

    def _getenv(self, name: str) -> str | None:
        env = os.environ if self._env is None else self._env
        return env.get(name) or None

    def key_available(self, provider: str) -> bool:
        defaults = PROVIDERS.get(canonical(provider))
        return defaults is not None and any(self._getenv(n) for n in defaults.key_env)

    def resolve(self, provider: str, tags: Mapping[str, str], endpoint: str = "") -> ProviderAccess:
        defaults = PROVIDERS.get(canonical(provider))
        if defaults is None:
            raise KeyError(f"unknown provider {provider!r}")
        base = (
            (self._getenv(defaults.base_env) if defaults.base_env else None)
            or endpoint
            or tags.get("base_url")
            or defaults.default_base
        )
        key: str | None = None
        if tags.get("api_key_secret"):
            key = self._secret(tags["api_key_secret"])
        else:
            key = next((v for n in defaults.key_env if (v := self._getenv(n))), None)
        return ProviderAccess(base_url=base.rstrip("/") if base else None, api_key=key)
