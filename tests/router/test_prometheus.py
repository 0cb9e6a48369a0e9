"""`GET /metrics`: Prometheus text exposition, admin key only, counters that rise with traffic."""

from __future__ import annotations

import re

from tests.support.router_harness import RouterHarness

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 if the series does not exist yet."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_need_the_admin_key(router: RouterHarness) -> None:
    with router.client() as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_request_counters_rise_with_traffic_per_model_and_version(router: RouterHarness) -> None:
    with router.client() as c:
        before = c.get("/metrics", headers=router.admin).text
        for _ in range(3):
            assert (
                c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"}).status_code == 200
            )
        resp = c.get("/metrics", headers=router.admin)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    after = resp.text
    name = "motherfluxer_requests_total"
    labels = {"model": "alpha", "version": "v1", "code": "200"}
    assert _sample(after, name, **labels) == _sample(before, name, **labels) + 3
    count = "motherfluxer_request_latency_seconds_count"
    assert _sample(after, count, model="alpha", version="v1") >= 3
    assert "motherfluxer_overhead_seconds_bucket" in after
    assert _sample(after, "motherfluxer_tokens_total", model="alpha", direction="out") > 0
    # Two alpha instances and one beta upstream are registered and healthy.
    assert _sample(after, "motherfluxer_healthy_instances", model="alpha") == 2
    assert _sample(after, "motherfluxer_healthy_instances", model="gamma") == 0
