"""Self-registration of model instances: tokens, register, heartbeat, deregister."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from registry.repository import InstanceNotFound
from router.api.deps import services
from router.authz import current_caller, effective_scopes, require_admin
from router.errors import Conflict, NotFound, Unauthorized, Unprocessable
from router.security import (
    InvalidToken,
    bearer,
    credential_matches,
    hash_secret,
    new_instance_credential,
)
from routing.instances import Instance

router = APIRouter()


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=128)
    ttl_seconds: int = Field(default=600, ge=1, le=900)


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Empty when the container signed the call with its IAM role instead (SigV4, AWS only).
    token: str = Field(default="", max_length=4096)
    model: str = Field(min_length=1, max_length=128)
    version: str = Field(default="v1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["openai", "sagemaker"] = "openai"
    base_url: str = Field(min_length=1, max_length=2048)
    weight: float = Field(default=1.0, gt=0, le=1000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            if not parts.hostname or parts.username or parts.password:
                raise ValueError(
                    "base_url must be http(s)://host[:port][/path] without credentials"
                )
        elif not value.replace("-", "").isalnum():
            # SageMaker endpoints are registered by name.
            raise ValueError("base_url must be an http(s) URL or a SageMaker endpoint name")
        return value.rstrip("/")


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Bounded to what an instance can really report (and DynamoDB numbers can hold).
    in_flight: int = Field(default=0, ge=0, le=1_000_000)
    queue_depth: int = Field(default=0, ge=0, le=1_000_000)
    tokens_per_second: float = Field(default=0.0, ge=0, le=10_000_000, allow_inf_nan=False)
    ready: bool = True


def _known_model(request: Request, model: str) -> None:
    if services(request).catalog.get(model) is None:
        raise Unprocessable(f"model '{model}' is not in the catalog", code="unknown_model")


@router.post("/admin/registration-tokens", dependencies=[Depends(require_admin)])
async def issue_token(request: Request, body: TokenRequest) -> dict[str, object]:
    _known_model(request, body.model)
    svc = services(request)
    token = svc.signer.issue_registration_token(body.model, body.ttl_seconds)
    return {
        "token": token,
        "model": body.model,
        "expires_in": min(body.ttl_seconds, svc.signer.max_ttl_s),
    }


@router.post("/instances/registration-tokens")
async def enrollment_token(request: Request, body: TokenRequest) -> dict[str, object]:
    svc = services(request)
    key = bearer(request.headers.get("authorization"))
    if key is None or not svc.enrollment(key, body.model):
        raise Unauthorized("a valid enrollment key for this model is required")
    _known_model(request, body.model)
    ttl = min(body.ttl_seconds, 300)
    return {"token": svc.signer.issue_registration_token(body.model, ttl), "expires_in": ttl}


@router.post("/instances/register", status_code=201)
async def register(request: Request, body: RegisterRequest) -> dict[str, object]:
    svc = services(request)
    if not body.token:
        if not _iam_caller_may_register(request, body.model):
            raise Unauthorized("registration needs a token or an authorized IAM role")
        _known_model(request, body.model)
    else:
        try:
            claims = svc.signer.verify_registration_token(body.token, body.model)
        except InvalidToken:
            # One answer for every reason: the caller learns nothing about which check failed.
            raise Unauthorized(
                "registration token is invalid, expired or not for this model"
            ) from None
        _known_model(request, body.model)
        if not await asyncio.to_thread(svc.repo.consume_token, claims.token_id, claims.expires_at):
            raise Conflict("registration token was already used", code="token_used")
    credential = new_instance_credential()
    now = time.time()
    inst = Instance(
        instance_id=f"{body.model.replace('/', '-')[:40]}-{uuid.uuid4().hex[:10]}",
        model=body.model,
        version=body.version,
        kind=body.kind,
        endpoint=body.base_url,
        status="healthy",
        last_heartbeat=now,
        weight=body.weight,
        lease_seconds=svc.settings.lease_s,
    )
    await asyncio.to_thread(svc.repo.register, inst, hash_secret(credential))
    return {
        "instance_id": inst.instance_id,
        "credential": credential,
        "heartbeat_interval_s": svc.settings.heartbeat_interval_s,
        "lease_seconds": svc.settings.lease_s,
    }


def _iam_caller_may_register(request: Request, model: str) -> bool:
    """SigV4 registration: API Gateway's IAM authorizer already verified the signature and
    that the role may invoke this route; the router only reads the verified identity from the
    Lambda event (never from a header a client could set) and, when configured, checks that
    the role is the one allowed for this model."""
    svc = services(request)
    if not svc.settings.registration_iam:
        return False
    event = request.scope.get("aws.event")
    if not isinstance(event, dict):
        return False
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    arn = str(iam.get("userArn") or "")
    if ":assumed-role/" not in arn:
        return False
    role = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
    allowed = svc.settings.registration_roles.get(model)
    return allowed is None or role == allowed or arn.endswith(f"/{allowed}")


async def _authorize_instance(request: Request, instance_id: str, *, admin_may: bool) -> None:
    """The instance's own credential, or (for deregistration only) an admin caller.

    An unknown id and a wrong credential get the same 401, so ids cannot be probed.
    """
    svc = services(request)
    # With SigV4 on the route, Authorization carries the signature, so the instance
    # credential travels in its own header.
    token = request.headers.get("x-motherfluxer-instance-credential") or bearer(
        request.headers.get("authorization")
    )
    if token is not None and token.startswith("mfi_"):
        stored = await asyncio.to_thread(svc.repo.credential_hash, instance_id)
        # credential_matches spends the same comparison when nothing is stored.
        if credential_matches(token, stored):
            return
        raise Unauthorized("instance credential is not valid for this instance")
    if admin_may and token is not None:
        caller = await current_caller(request)
        if "admin" in effective_scopes(caller):
            return
    raise Unauthorized("instance credential is not valid for this instance")


@router.post("/instances/{instance_id}/heartbeat")
async def heartbeat(
    instance_id: str, request: Request, body: HeartbeatRequest
) -> dict[str, object]:
    svc = services(request)
    await _authorize_instance(request, instance_id, admin_may=False)
    try:
        inst = await asyncio.to_thread(
            svc.repo.heartbeat,
            instance_id,
            in_flight=body.in_flight,
            queue_depth=body.queue_depth,
            tokens_per_second=body.tokens_per_second,
            ready=body.ready,
        )
    except InstanceNotFound:
        raise NotFound("instance is not registered", code="instance_not_found") from None
    return {
        "status": inst.status,
        "heartbeat_interval_s": svc.settings.heartbeat_interval_s,
        "lease_seconds": svc.settings.lease_s,
    }


@router.delete("/instances/{instance_id}")
async def deregister(instance_id: str, request: Request) -> dict[str, object]:
    svc = services(request)
    await _authorize_instance(request, instance_id, admin_may=True)
    removed = await asyncio.to_thread(svc.repo.deregister, instance_id)
    svc.store.forget(instance_id)
    if not removed:
        raise NotFound("instance is not registered", code="instance_not_found")
    return {"instance_id": instance_id, "deregistered": True}
