"""The router's HTTP API as a client sees it: shapes, headers, errors."""

from __future__ import annotations

import json
import time

import httpx

from tests.support.fault_upstream import FaultUpstreamHandle
from tests.support.router_harness import RouterHarness

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


def _error(resp: httpx.Response) -> dict[str, str]:
    body = resp.json()
    assert set(body) == {"error"}
    # OpenAI's error shape: `param` is always there (null when no one field is to blame).
    assert set(body["error"]) == {"type", "message", "param", "code"}
    return body["error"]


def test_health_is_not_ready_while_a_served_model_has_no_instance(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.get("/health")
        live = c.get("/health/live")
    body = resp.json()
    # gamma is in the catalog but nothing serves it: not ready, and the body says why.
    assert resp.status_code == 503
    assert body["status"] == "starting" and body["ready"] is False
    alpha = {"ready": True, "routable_instances": 2, "versions": ["v1"]}
    assert body["readiness"]["alpha"] == alpha
    assert body["readiness"]["gamma"]["ready"] is False
    assert body["healthy_instances"] == 3
    assert live.status_code == 200


def test_chat_completion_has_openai_shape_and_route_headers(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "alpha"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] > 0
    for header in ("model", "instance", "route-reason", "overhead-ms", "version"):
        assert resp.headers[f"x-motherfluxer-{header}"]
    assert resp.headers["x-motherfluxer-instance"].startswith("alpha-")
    assert "127.0.0.1" not in json.dumps(dict(resp.headers))


def test_stream_ends_with_done_and_usage_only_when_asked(router: RouterHarness) -> None:
    def events(payload: dict) -> list[str]:
        with router.client() as c, c.stream("POST", "/v1/chat/completions", json=payload) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["x-motherfluxer-model"] == "alpha"
            return [line for line in r.iter_lines() if line.startswith("data:")]

    plain = events({**CHAT, "model": "alpha", "stream": True})
    assert plain[-1] == "data: [DONE]"
    chunks = [json.loads(e[5:]) for e in plain[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert not any(c.get("usage") for c in chunks)

    with_usage = events(
        {**CHAT, "model": "alpha", "stream": True, "stream_options": {"include_usage": True}}
    )
    last = json.loads(with_usage[-2][5:])
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0


def test_completions_endpoint(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/v1/completions", json={"model": "beta", "prompt": "Once", "max_tokens": 3})
    assert resp.status_code == 200
    assert resp.json()["object"] == "text_completion"


def test_models_list_has_metadata_and_live_status(router: RouterHarness) -> None:
    with router.client() as c:
        body = c.get("/v1/models").json()
    assert body["object"] == "list"
    alpha = next(m for m in body["data"] if m["id"] == "alpha")
    assert alpha["object"] == "model"
    assert alpha["status"]["healthy_instances"] == 2
    assert alpha["fallback"] == "beta"
    with router.client() as c:
        detail = c.get("/models/alpha").json()
    assert len(detail["instances"]) == 2


def test_malformed_json_is_400(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post(
            "/v1/chat/completions",
            content=b'{"model": "alpha", "messages": [',
            headers={"content-type": "application/json"},
        )
    assert resp.status_code == 400
    assert _error(resp)["code"] == "invalid_json"


def test_schema_violation_is_400_naming_the_field_without_echoing_input(
    router: RouterHarness,
) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={"model": "alpha", "messages": "sekrit-value"})
    assert resp.status_code == 400
    err = _error(resp)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == "messages"
    assert "messages" in err["message"]
    assert "sekrit-value" not in resp.text


def test_inference_schema_violation_is_400_naming_the_field(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/inference", json={"prompt": "hi", "max_length": 0})
        unknown = c.post("/inference", json={"prompt": "hi", "colour": "blue"})
    assert resp.status_code == 400
    assert _error(resp)["param"] == "max_length"
    assert unknown.status_code == 400
    assert _error(unknown)["param"] == "colour"


def test_errors_without_a_field_still_carry_param_null(router: RouterHarness) -> None:
    with router.client() as c:
        missing = c.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
        no_route = c.get("/no/such/route")
    for resp in (missing, no_route):
        assert _error(resp)["param"] is None


def test_assistant_messages_carry_refusal_null(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"})
    message = resp.json()["choices"][0]["message"]
    assert "refusal" in message and message["refusal"] is None


def test_unknown_model_is_404(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
    assert resp.status_code == 404
    assert _error(resp)["code"] == "model_not_found"


def test_model_without_instances_is_404_in_manual_mode(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "gamma"})
    assert resp.status_code == 404
    assert _error(resp)["code"] == "model_not_served"


def test_oversize_body_is_413(router: RouterHarness) -> None:
    big = {**CHAT, "model": "alpha", "messages": [{"role": "user", "content": "x" * 70_000}]}
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json=big)
    assert resp.status_code == 413
    assert _error(resp)["code"] == "payload_too_large"


def test_unknown_route_is_json_404(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.get("/v2/nothing")
    assert resp.status_code == 404
    _error(resp)


def test_admin_endpoints_need_the_admin_key(router: RouterHarness) -> None:
    with router.client() as c:
        assert c.get("/admin/instances").status_code == 401
        bad = c.get("/admin/instances", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert "nope" not in bad.text
        ok = c.get("/admin/instances", headers=router.admin)
    assert ok.status_code == 200
    assert {i["instance_id"] for i in ok.json()["data"]} >= {"alpha-0", "alpha-1", "beta-0"}


def test_failover_to_another_instance_of_the_same_model(
    router: RouterHarness, upstreams: list[FaultUpstreamHandle]
) -> None:
    upstreams[0].set_fault("http_500")
    with router.client() as c:
        for _ in range(4):
            resp = c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"})
            assert resp.status_code == 200
            assert resp.headers["x-motherfluxer-instance"] == "alpha-1"


def test_nothing_healthy_is_503_with_retry_after(router: RouterHarness) -> None:
    with router.client() as c:
        started = time.perf_counter()
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": ["gamma"]})
        elapsed = time.perf_counter() - started
    assert resp.status_code == 503
    assert resp.headers["retry-after"]
    assert _error(resp)["code"] == "model_not_served"
    assert elapsed < 5  # generous bound: the point is that it does not wait for timeouts


def test_inference_streams_when_asked(router: RouterHarness) -> None:
    with (
        router.client() as c,
        c.stream(
            "POST", "/inference", json={"prompt": "hi", "model": "alpha", "stream": True}
        ) as r,
    ):
        assert r.status_code == 200
        assert r.headers["x-motherfluxer-model"] == "alpha"
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][5:])["object"] == "text_completion"


def test_inference_manual_model_without_healthy_instance_is_404(
    router: RouterHarness, upstreams: list[FaultUpstreamHandle]
) -> None:
    # beta's only instance is drained: /inference (seed 003) says 404, OpenAI clients get 503.
    admin = router.admin
    with router.client() as c:
        # The last routable instance: draining it takes the model down, so it needs force.
        drained = c.post("/admin/instances/beta-0/drain?force=true", headers=admin)
        assert drained.status_code == 200
        try:
            router.refresh()
            inferred = c.post("/inference", json={"prompt": "hi", "model": "beta"})
            assert inferred.status_code == 404
            assert _error(inferred)["code"] == "model_not_served"
            chat = c.post("/v1/chat/completions", json={**CHAT, "model": "beta"})
            assert chat.status_code == 503
            assert chat.headers["retry-after"]
        finally:
            c.post("/admin/instances/beta-0/undrain", headers=admin)
            router.refresh()


def test_unknown_required_capability_is_400(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post(
            "/v1/chat/completions",
            json={
                **CHAT,
                "model": "auto",
                "requirements": {"required_capabilities": ["telepathy"]},
            },
        )
    assert resp.status_code == 400
    err = _error(resp)
    assert str(err["param"]).startswith("requirements.required_capabilities")
    assert "required_capabilities" in err["message"]


def test_hybrid_with_an_unknown_preferred_model_falls_back_to_auto(router: RouterHarness) -> None:
    body = {"prompt": "hello there", "max_length": 4, "preferred_model": "no-such-model"}
    with router.client() as c:
        auto = c.post("/inference", json={**body, "fallback_mode": "auto"})
        default = c.post("/inference", json=body)
        none = c.post("/inference", json={**body, "fallback_mode": "none"})
    for resp in (auto, default):
        assert resp.status_code == 200, resp.text
        reason = resp.headers["x-motherfluxer-route-reason"]
        assert reason.startswith("preferred 'no-such-model' unknown → auto; auto: ")
        assert resp.json()["route_reason"] == reason
        assert resp.json()["model"] in ("alpha", "beta")
    assert none.status_code == 404
    assert _error(none)["code"] == "model_not_found"


def test_models_list_and_admin_view_read_one_live_catalog(router: RouterHarness) -> None:
    with router.client() as c:
        changed = c.put(
            "/admin/models/beta/strategy", json={"strategy": "round_robin"}, headers=router.admin
        )
        assert changed.status_code == 200, changed.text
        try:
            router.refresh()
            listed = {m["id"]: m for m in c.get("/v1/models").json()["data"]}
            one = c.get("/models/beta").json()
            admin_view = c.get("/admin/rollouts", headers=router.admin).json()
        finally:
            c.put("/admin/models/beta/strategy", json={"strategy": None}, headers=router.admin)
    assert admin_view["strategies"]["beta"] == "round_robin"
    assert listed["beta"]["strategy"] == "round_robin"
    assert one["strategy"] == "round_robin"
