"""The admin pages in Chromium: users and keys, usage, revocation, draining, adding an instance."""

from __future__ import annotations

import time

import httpx
import pytest

from devstack.stack import EmbeddedStack
from tests.console.conftest import Page

pytestmark = pytest.mark.slow


def _admin_page(ui, stack: EmbeddedStack, tab: str):
    page = ui.open(f"/ui/admin#{tab}")
    ui.sign_in(stack.admin_key)
    return page


def _chart_total(page) -> int:
    page.wait_for_selector("#usage-chart svg")
    return int(page.locator("#usage-chart svg").get_attribute("data-total"))


def test_admin_creates_a_user_and_key_the_user_signs_in_and_sees_usage_then_revocation(
    ui, browser, console_stack: EmbeddedStack
) -> None:
    page = _admin_page(ui, console_stack, "users")
    page.fill("#user-name", "browser-user")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("#users-table tr[data-user]")
    page.click("#key-form button[type=submit]")
    key = page.locator("#new-key-value").inner_text()
    prefix = page.input_value("#revoke-prefix")
    assert key.startswith("mf_") and prefix in key
    ui.shot("admin-users")

    # The user signs in in a browser of their own (the admin's page keeps the admin key).
    person = Page(browser, console_stack.url)
    user = person.open("/ui/#account")
    person.sign_in(key)
    before = _chart_total(user)
    assert user.locator('#account-summary [data-field="requests"]').inner_text() == str(before)

    user.goto(console_stack.url + "/ui/#chat")
    user.wait_for_selector("body[data-ready='true']")
    user.select_option("#mode", "manual")
    user.fill("#prompt", "count me")
    user.click("#send")
    user.locator(".msg.assistant[data-state='done']").wait_for()
    # A key holder's stream cost is settled after the stream and read back from the ledger.
    cost = user.locator('.route-card [data-field="cost"]')
    user.wait_for_function(
        "el => el.textContent.startsWith('$')", arg=cost.element_handle(), timeout=10_000
    )

    # A fresh load: a hash change alone would leave the earlier chart in the page.
    user.goto(console_stack.url + "/ui/#account")
    user.reload()
    user.wait_for_selector("body[data-ready='true']")
    user.wait_for_function(
        "n => Number(document.querySelector('#usage-chart svg')?.dataset.total) === n",
        arg=before + 1,
        timeout=15_000,
    )
    person.shot("account")

    page.click("#revoke-form button[type=submit]")
    page.wait_for_selector("#notice:has-text('revoked')")

    user.reload()
    user.wait_for_selector("body[data-ready='true']")
    notice = user.locator("#notice")
    notice.wait_for()
    user.wait_for_selector("#notice:has-text('may have been revoked')")
    assert user.locator("#whoami").inner_text() == "Demo tier"
    person.close()
    assert not person.errors and not person.foreign


def test_drain_and_undrain_an_instance_from_the_instances_page(
    ui, console_stack: EmbeddedStack
) -> None:
    page = _admin_page(ui, console_stack, "instances")
    row = page.locator("#instances-table tr[data-instance]").first
    row.wait_for()
    instance = row.get_attribute("data-instance")
    selector = f'#instances-table tr[data-instance="{instance}"]'
    mine = page.locator(selector)
    assert mine.get_attribute("data-status") == "healthy"
    mine.locator("button.drain").click()
    page.wait_for_selector(selector + '[data-status="draining"]')
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        listed = client.get(
            "/admin/instances", headers={"Authorization": f"Bearer {console_stack.admin_key}"}
        ).json()["data"]
    assert next(i for i in listed if i["instance_id"] == instance)["status"] == "draining"
    ui.shot("admin-instances")
    mine.locator("button.undrain").click()
    page.wait_for_selector(selector + '[data-status="healthy"]')


def test_issue_a_token_register_an_instance_with_it_and_watch_it_connect(
    ui, console_stack: EmbeddedStack
) -> None:
    page = _admin_page(ui, console_stack, "add")
    page.select_option("#token-model", "tiny-chat")
    page.fill("#token-version", "v7")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-out:not([hidden])")
    token = page.locator("#token-value").inner_text()
    assert f"MOTHERFLUXER_REGISTRATION_TOKEN={token}" in page.locator("#cmd-docker").inner_text()
    assert token in page.locator("#cmd-ecs").inner_text()
    assert token in page.locator("#cmd-sagemaker").inner_text()
    # The instance the admin deploys: a real model server (echo backend) holding only the
    # console's token; without the enrollment key it has no other way in.
    child = console_stack.start_model_server(
        "tiny-chat",
        "v7",
        index=70,
        extra_env={"MOTHERFLUXER_REGISTRATION_TOKEN": token, "MOTHERFLUXER_ENROLLMENT_KEY": ""},
    )
    try:
        page.wait_for_selector("#watch[data-state='healthy']", timeout=60_000)
        instance = page.locator("#watch").get_attribute("data-instance")
        assert instance.startswith("tiny-chat-")
        ui.shot("admin-add-instance")
        page.goto(console_stack.url + "/ui/admin#instances")
        page.wait_for_selector(f'#instances-table tr[data-instance="{instance}"] >> text=v7')
    finally:
        child.proc.send_signal(15)
        child.stop(timeout_s=15)
        console_stack.model_children.remove(child)
    # Single use: the same token cannot register a second instance.
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        again = client.post(
            "/instances/register",
            json={"token": token, "model": "tiny-chat", "base_url": "http://127.0.0.1:9"},
        )
    assert again.status_code == 409
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with httpx.Client(base_url=console_stack.url, timeout=10) as client:
            ids = [
                i["instance_id"]
                for i in client.get(
                    "/admin/instances",
                    headers={"Authorization": f"Bearer {console_stack.admin_key}"},
                ).json()["data"]
            ]
        if instance not in ids:
            break
        time.sleep(0.5)


def test_rollouts_page_starts_a_canary_and_rolls_it_back(ui, console_stack: EmbeddedStack) -> None:
    page = _admin_page(ui, console_stack, "rollouts")
    card = page.locator('#rollouts .card[data-model="tiny-chat"]')
    card.wait_for()
    card.locator("button:has-text('Start canary')").click()
    page.wait_for_selector('#rollouts .card[data-model="tiny-chat"] tr[data-version="v2"]')
    weights = {
        row.get_attribute("data-version"): row.locator('[data-field="weight"]').inner_text()
        for row in card.locator("tr[data-version]").all()
    }
    assert weights == {"v1": "90%", "v2": "10%"}
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        live = client.get(
            "/admin/rollouts", headers={"Authorization": f"Bearer {console_stack.admin_key}"}
        ).json()["rollouts"]["tiny-chat"]
    assert live == {"v1": 90.0, "v2": 10.0}
    ui.shot("admin-rollouts")
    card.locator("button:has-text('Roll back')").click()
    page.wait_for_selector(
        '#rollouts .card[data-model="tiny-chat"] tr[data-version="v1"] >> text=100%'
    )


def test_usage_reports_show_models_versions_and_users(ui, console_stack: EmbeddedStack) -> None:
    with httpx.Client(base_url=console_stack.url, timeout=20) as client:
        sent = client.post(
            "/v1/chat/completions",
            json={"model": "tiny-coder", "messages": [{"role": "user", "content": "x"}]},
            headers={"Authorization": f"Bearer {console_stack.api_key}"},
        )
        assert sent.status_code == 200
    page = _admin_page(ui, console_stack, "usage")
    page.wait_for_selector("#usage-tables table[data-group='By model'] >> text=tiny-coder")
    assert _chart_total(page) >= 1
    assert page.locator("#usage-tables table[data-group='By user'] tbody tr").count() >= 1
    ui.shot("admin-usage")
