"""Probing instances and turning probe results into status changes (conditional writes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp

from registry.repository import ConcurrentUpdate, InstanceNotFound, InstanceRepository
from routing.instances import Instance


@dataclass(frozen=True)
class ProbeResult:
    instance_id: str
    ok: bool
    detail: str
    latency_ms: float


async def probe_http(
    session: aiohttp.ClientSession, inst: Instance, timeout_s: float
) -> ProbeResult:
    started = time.perf_counter()
    base = inst.endpoint.rstrip("/")
    last = "no answer"
    for path in ("/health", "/ping"):
        try:
            async with session.get(
                base + path, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                if resp.status == 200:
                    return ProbeResult(inst.instance_id, True, f"{path} 200", _ms(started))
                last = f"{path} {resp.status}"
                if resp.status != 404:
                    break
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = f"{path} {type(exc).__name__}"
            break
    return ProbeResult(inst.instance_id, False, last, _ms(started))


async def probe_provider(
    session: aiohttp.ClientSession, inst: Instance, timeout_s: float
) -> ProbeResult | None:
    """The optional models-list probe of an external model (None: this one has none)."""
    from router.upstream.provider_probe import probe_request

    started = time.perf_counter()
    try:
        target = probe_request(inst)
    except Exception:
        return ProbeResult(inst.instance_id, False, "no credential", _ms(started))
    if target is None:
        return None
    url, headers = target
    try:
        async with session.get(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            # The status only: the provider's words (and our key) stay out of the detail.
            return ProbeResult(
                inst.instance_id, resp.status == 200, f"models {resp.status}", _ms(started)
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        return ProbeResult(inst.instance_id, False, f"models {type(exc).__name__}", _ms(started))


def probe_sagemaker(client: Any, inst: Instance, component: str | None = None) -> ProbeResult:
    """An endpoint is judged by its status; one hosting an inference component by the
    component's, and a component with no copy (scaled to zero) is out of rotation, so the
    router treats its model as asleep (router/wake.py) instead of calling it."""
    started = time.perf_counter()
    if component:
        return _probe_component(client, inst, component, started)
    try:
        status = client.describe_endpoint(EndpointName=inst.endpoint)["EndpointStatus"]
    except Exception as exc:
        return ProbeResult(inst.instance_id, False, type(exc).__name__, _ms(started))
    # Updating endpoints keep serving on the old variant, so they still count as healthy.
    return ProbeResult(
        inst.instance_id, status in ("InService", "Updating"), f"endpoint {status}", _ms(started)
    )


def _probe_component(client: Any, inst: Instance, name: str, started: float) -> ProbeResult:
    try:
        found = client.describe_inference_component(InferenceComponentName=name)
    except Exception as exc:
        return ProbeResult(inst.instance_id, False, type(exc).__name__, _ms(started))
    status = found.get("InferenceComponentStatus", "")
    copies = int((found.get("RuntimeConfig") or {}).get("CurrentCopyCount") or 0)
    ok = status in ("InService", "Updating") and copies > 0
    return ProbeResult(inst.instance_id, ok, f"component {status}, {copies} copies", _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def verdict(inst: Instance, result: ProbeResult, now: float) -> Instance | None:
    """The status an instance should have after a probe; None when nothing changes.

    Draining belongs to operators and is never changed here. A heartbeat that is older than
    the lease makes an instance unhealthy even when its probe answers: the router can only
    trust instances that keep telling it their load.
    """
    if inst.status == "draining":
        return None
    stale = inst.lease_seconds > 0 and now - inst.last_heartbeat > inst.lease_seconds
    wanted = "healthy" if result.ok and not stale else "unhealthy"
    if inst.status == "starting" and wanted == "healthy" and inst.lease_seconds > 0:
        # A registered container says itself when it is ready (its heartbeat); instances
        # without a lease (SageMaker endpoints, providers) are judged by the probe alone.
        return None
    if wanted == inst.status:
        return None
    return replace(inst, status=wanted)


@dataclass
class CheckReport:
    probed: int
    healthy_by_model: dict[str, int]
    unhealthy_by_model: dict[str, int]
    changed: list[str]
    lost_races: int


async def check_all(
    repo: InstanceRepository,
    *,
    sagemaker_client_factory: Callable[[], Any] | None = None,
    timeout_s: float = 2.0,
    clock: Callable[[], float] = time.time,
    provider_probes: bool | None = None,
) -> CheckReport:
    instances = await asyncio.to_thread(repo.list_instances)
    results: dict[str, ProbeResult] = {}
    if provider_probes is None:
        from router.upstream.provider_probe import enabled

        provider_probes = enabled()
    external = [i for i in instances if i.kind == "external"] if provider_probes else []
    if external:
        async with aiohttp.ClientSession() as session:
            found = await asyncio.gather(*(probe_provider(session, i, timeout_s) for i in external))
        results.update({r.instance_id: r for r in found if r is not None})
    http = [i for i in instances if i.kind == "openai"]
    if http:
        async with aiohttp.ClientSession() as session:
            probes = await asyncio.gather(*(probe_http(session, i, timeout_s) for i in http))
        results.update({r.instance_id: r for r in probes})
    sm = [i for i in instances if i.kind == "sagemaker"]
    if sm and sagemaker_client_factory is not None:
        from router.upstream.sagemaker import component_of, components_from_env

        client = sagemaker_client_factory()
        known = components_from_env()
        named = [(i, component_of(i, known)) for i in sm]
        probes = await asyncio.gather(
            *(
                asyncio.to_thread(probe_sagemaker, client, i, c.name if c else None)
                for i, c in named
            )
        )
        results.update({r.instance_id: r for r in probes})

    now = clock()
    changed: list[str] = []
    lost = 0
    final: dict[str, Instance] = {i.instance_id: i for i in instances}
    for inst in instances:
        result = results.get(inst.instance_id)
        if result is None:
            continue
        if verdict(inst, result, now) is None:
            continue
        try:
            # Re-evaluated against the latest stored item on every retry of the write.
            updated = await asyncio.to_thread(
                repo.apply, inst.instance_id, lambda cur, r=result: verdict(cur, r, clock())
            )
        except InstanceNotFound:
            final.pop(inst.instance_id, None)
            continue
        except ConcurrentUpdate:
            lost += 1
            continue
        final[inst.instance_id] = updated
        changed.append(inst.instance_id)

    models = {inst.model for inst in final.values()}
    healthy = dict.fromkeys(models, 0)
    unhealthy = dict.fromkeys(models, 0)
    for inst in final.values():
        counts = healthy if inst.is_routable(now) else unhealthy
        counts[inst.model] += 1
    return CheckReport(len(results), healthy, unhealthy, changed, lost)
