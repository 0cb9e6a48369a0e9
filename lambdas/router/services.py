"""Everything the app holds for its lifetime, built once per process from Settings."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from registry.repository import InstanceRepository
from router.dispatch import Dispatcher
from router.dispatch.queue import ModelQueues
from router.metrics import RouterMetrics
from router.passive import BreakerHealth, BudgetedRetries
from router.routing_facade import RoutingFacade
from router.security import Signer
from router.settings import Settings
from router.snapshot import SnapshotStore
from router.upstream.base import UpstreamClient
from router.upstream.openai_http import OpenAIHTTPClient
from router.upstream.providers import ExternalProviders
from router.upstream.sagemaker import SageMakerClient, parse_components
from routing.catalog import Catalog

logger = logging.getLogger("motherfluxer.router")


@dataclass
class Services:
    settings: Settings
    routing_config: dict[str, Any]
    repo: InstanceRepository
    store: SnapshotStore
    routing: RoutingFacade
    dispatcher: Dispatcher
    clients: dict[str, UpstreamClient]
    signer: Signer
    admin_key: str
    signer_key: bytes = b""
    enrollment: Any = None
    accounts: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def catalog(self) -> Catalog:
        """The one live catalog: the configured models with the run-time changes operators
        made (strategies), as of the last snapshot the routing facade applied."""
        return self.routing.catalog

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        if self.accounts is not None and hasattr(self.accounts, "aclose"):
            await self.accounts.aclose()


def _secret_value(arn: str) -> str:
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_secret(arn, max_age=300))


def dynamodb_client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        region_name=settings.region,
        endpoint_url=settings.dynamodb_endpoint,
        config=Config(
            retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5
        ),
    )


def resolve_redis_url(settings: Settings) -> str | None:
    """A URL as given locally, or one built from the ElastiCache endpoint and AUTH secret."""
    if settings.redis_url or not settings.redis_host:
        return settings.redis_url
    from urllib.parse import quote

    auth = _secret_value(settings.redis_auth_secret) if settings.redis_auth_secret else ""
    scheme = "rediss" if settings.redis_tls else "redis"
    userinfo = f":{quote(auth, safe='')}@" if auth else ""
    return f"{scheme}://{userinfo}{settings.redis_host}:{settings.redis_port}/0"


class EnrollmentCheck:
    """Per-model enrollment keys: Secrets Manager values in AWS, derived from the signing key
    locally (so the local stack needs no extra secret)."""

    def __init__(self, signer: Signer, secrets_by_model: dict[str, str]) -> None:
        self._signer = signer
        self._secrets = secrets_by_model

    def __call__(self, key: str, model: str) -> bool:
        import hmac

        arn = self._secrets.get(model)
        if arn is None:
            return self._signer.verify_enrollment_key(key, model)
        return hmac.compare_digest(_secret_value(arn).encode(), key.encode())


def provider_auth(instance_tags: dict[str, str]) -> dict[str, str]:
    """Authorization for an external OpenAI-compatible provider, from its key's secret."""
    arn = instance_tags.get("api_key_secret")
    return {"Authorization": f"Bearer {_secret_value(arn)}"} if arn else {}


def build_services(
    settings: Settings, *, catalog: Catalog, routing_config: dict[str, Any]
) -> Services:
    import dataclasses

    settings = dataclasses.replace(settings, redis_url=resolve_redis_url(settings))
    repo = InstanceRepository(
        dynamodb_client(settings), settings.instances_table, expiry_s=settings.expiry_s
    )
    store = SnapshotStore(repo, ttl_s=settings.snapshot_ttl_s)
    admin_key = settings.admin_key or (
        _secret_value(settings.admin_key_secret) if settings.admin_key_secret else None
    )
    if not admin_key:
        # No admin key configured: admin endpoints stay unusable rather than open.
        admin_key = secrets.token_urlsafe(32)
        logger.warning("no admin key configured; admin endpoints are locked")
    signing = settings.signing_key or (
        _secret_value(settings.signing_key_secret) if settings.signing_key_secret else None
    )
    if not signing:
        signing = secrets.token_urlsafe(32)
        logger.warning("no signing key configured; registration tokens last only this process")
    signer = Signer(signing.encode(), max_ttl_s=settings.token_max_ttl_s)
    clients: dict[str, UpstreamClient] = {
        "openai": OpenAIHTTPClient(auth_for=provider_auth),
        "sagemaker": SageMakerClient(
            region=settings.region,
            endpoint_url=settings.sagemaker_endpoint,
            components=parse_components(settings.sagemaker_components),
        ),
        "external": ExternalProviders(),
    }
    routing = RoutingFacade(catalog, store, routing_config=routing_config)
    queue = ModelQueues(store, lambda: routing.catalog, RouterMetrics())
    dispatcher = Dispatcher(
        clients=clients,
        health=BreakerHealth(store),
        retries=BudgetedRetries(),
        connect_timeout_s=settings.connect_timeout_s,
        first_byte_timeout_s=settings.first_byte_timeout_s,
        stall_timeout_s=settings.stall_timeout_s,
        request_timeout_s=settings.request_timeout_s,
        on_acquire=store.acquire,
        on_release=queue.release,
        queue=queue,
    )
    return Services(
        settings=settings,
        routing_config=routing_config,
        repo=repo,
        store=store,
        routing=routing,
        dispatcher=dispatcher,
        clients=clients,
        signer=signer,
        admin_key=admin_key,
        signer_key=signing.encode(),
        enrollment=EnrollmentCheck(signer, settings.enrollment_secrets),
    )
