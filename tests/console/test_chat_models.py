"""Chat in seed 003's three modes, the model catalog and the comparison view, in Chromium."""

from __future__ import annotations

import pytest

from devstack.stack import EmbeddedStack

pytestmark = pytest.mark.slow

CARD_HEADERS = {
    "model": "x-motherfluxer-model",
    "version": "x-motherfluxer-version",
    "instance": "x-motherfluxer-instance",
    "reason": "x-motherfluxer-route-reason",
    "overhead": "x-motherfluxer-overhead-ms",
    "attempts": "x-motherfluxer-attempts",
}


def _chat(page, mode: str, prompt: str, model: str | None = None) -> tuple[dict, object]:
    page.select_option("#mode", mode)
    if model:
        page.select_option("#model", model)
    page.fill("#prompt", prompt)
    path = "/inference" if mode == "hybrid" else "/v1/chat/completions"
    with page.expect_response(lambda r: r.url.endswith(path)) as info:
        page.click("#send")
    headers = info.value.headers
    answer = page.locator(".msg.assistant").last
    answer.locator(".route-card").wait_for()
    return headers, answer


@pytest.mark.parametrize(
    ("mode", "model", "reason_starts"),
    [("manual", "tiny-coder", "manual"), ("auto", None, "auto"), ("hybrid", "tiny-chat", "hybrid")],
)
def test_chat_streams_and_shows_the_route_card_of_the_response(
    ui, console_stack: EmbeddedStack, mode: str, model: str | None, reason_starts: str
) -> None:
    page = ui.open("/ui/")
    page.fill("#max-tokens", "12")
    headers, answer = _chat(page, mode, "alpha beta gamma delta", model)
    assert answer.get_attribute("data-state") == "done"
    # Streamed: the text arrived in many SSE chunks, one word each from the echo model.
    assert int(answer.get_attribute("data-chunks") or 0) >= 5
    assert "alpha" in answer.locator(".text").inner_text()
    card = answer.locator(".route-card")
    for field, header in CARD_HEADERS.items():
        assert card.locator(f'[data-field="{field}"]').get_attribute("data-raw") == headers[header]
    assert headers["x-motherfluxer-route-reason"].startswith(reason_starts)
    if model:
        assert headers["x-motherfluxer-model"] == model
    assert card.locator('[data-field="task"]').inner_text() == headers.get(
        "x-motherfluxer-task", "—"
    )
    ui.shot(f"chat-{mode}")


def test_models_page_lists_the_catalog_with_live_status(ui, console_stack) -> None:
    page = ui.open("/ui/#models")
    rows = page.locator("#models-table tbody tr")
    rows.first.wait_for()
    ids = sorted(rows.nth(i).get_attribute("data-model") for i in range(rows.count()))
    assert ids == sorted(m["id"] for m in console_stack.catalog["models"])
    healthy = page.locator('#models-table tr[data-model="tiny-chat"] [data-field="healthy"]')
    assert healthy.inner_text() == "3 / 3"  # two of v1, one of v2
    ui.shot("models")


def test_compare_sends_one_prompt_to_two_models_side_by_side(ui, console_stack) -> None:
    page = ui.open("/ui/#compare")
    boxes = page.locator("#compare-models input[type=checkbox]")
    for i in range(boxes.count()):
        boxes.nth(i).set_checked(i < 2)
    chosen = [boxes.nth(i).get_attribute("value") for i in range(2)]
    page.fill("#compare-prompt", "compare these words")
    page.fill("#compare-max", "6")
    page.click("#compare-run")
    page.wait_for_selector("#compare-results .column:not(.pending) >> nth=1")
    columns = page.locator("#compare-results .column")
    assert columns.count() == 2
    for i, model in enumerate(chosen):
        col = columns.nth(i)
        assert col.get_attribute("data-model") == model
        assert "compare" in col.locator(".answer").inner_text()
        assert col.locator('[data-field="latency"]').inner_text().endswith(" ms")
        assert col.locator('[data-field="tokens"]').inner_text().endswith("6 out")
        assert model in col.locator('[data-field="instance"]').inner_text()
    ui.shot("compare")


def test_the_demo_tier_shows_its_remaining_requests(ui, console_stack: EmbeddedStack) -> None:
    page = ui.open("/ui/")
    assert "Demo tier" in page.locator("#demo-left").inner_text()
    page.fill("#max-tokens", "4")
    headers, _ = _chat(page, "manual", "hello", "tiny-chat")
    left = headers["x-ratelimit-remaining-requests"]
    span = page.locator(f'#demo-left[data-left="{left}"]')
    span.wait_for()
    limit = headers["x-ratelimit-limit-requests"]
    assert f"{left} of {limit} requests left this minute" in span.inner_text()
