"""In Chromium: a signed-in user's own keys and budget on the Account page, the admin's user
directory, and signing in through the hosted UI with the authorization-code grant and PKCE."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from accounts.cognito import NAMESPACE
from devstack.stack import EmbeddedStack
from tests.console.conftest import Page
from tests.console.hosted_ui import HostedUi, s256

pytestmark = pytest.mark.slow


def _admin(stack: EmbeddedStack) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url,
        timeout=15,
        headers={"Authorization": f"Bearer {stack.admin_key}"},
    )


def _new_user(stack: EmbeddedStack, name: str) -> tuple[str, str]:
    with _admin(stack) as admin:
        user_id = admin.post("/admin/users", json={"name": name}).json()["user_id"]
        key = admin.post(f"/admin/users/{user_id}/keys").json()["key"]
    return user_id, key


def _status(stack: EmbeddedStack, key: str) -> int:
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        return client.get("/v1/keys", headers={"Authorization": f"Bearer {key}"}).status_code


def test_a_user_sees_their_budget_creates_a_key_once_and_revokes_keys(
    ui, console_stack: EmbeddedStack
) -> None:
    user_id, key = _new_user(console_stack, "self-service person")
    with _admin(console_stack) as admin:
        admin.put(f"/admin/users/{user_id}/budget", json={"usd": "2", "period": "monthly"})
    page = ui.open("/ui/#account")
    ui.sign_in(key)
    budget = page.locator("#budget")
    budget.wait_for()
    assert budget.locator('[data-field="limit"]').inner_text() == "$2.0000 (monthly)"
    assert budget.locator('[data-field="remaining"]').inner_text() == "$2.0000"
    assert budget.locator('[data-field="resets"]').inner_text() not in ("", "—")
    rows = page.locator("#my-keys-table tbody tr")
    assert rows.count() == 1
    assert "signed in with it" in rows.first.locator('[data-field="state"]').inner_text()

    page.fill("#my-key-name", "laptop")
    page.click("#my-key-form button[type=submit]")
    fresh = page.locator("#my-new-key-value")
    fresh.wait_for()
    new_key = fresh.inner_text()
    new_prefix = new_key.split("_")[1]
    assert new_key.startswith("mf_") and _status(console_stack, new_key) == 200
    row = page.locator(f'#my-keys-table tr[data-prefix="{new_prefix}"]')
    assert row.locator("td").nth(1).inner_text() == "laptop"
    ui.shot("account-keys")

    # Shown once: a fresh load lists the key by prefix and name, never the secret again.
    page.reload()
    page.wait_for_selector("#my-keys-table tbody tr >> nth=1")
    assert page.locator("#my-new-key").count() == 0
    assert new_key.split("_", 2)[2] not in page.content()

    page.locator(f'#my-keys-table tr[data-prefix="{new_prefix}"] button.revoke').click()
    page.wait_for_selector(f'#my-keys-table tr[data-prefix="{new_prefix}"][data-state="revoked"]')
    assert "revoked" in page.locator("#notice").inner_text()
    assert _status(console_stack, new_key) == 401
    assert _status(console_stack, key) == 200  # the key in use is untouched

    # Revoking the key in use: allowed (a leaked key must be killable), and the console signs
    # the person out, saying why.
    own = key.split("_")[1]
    page.locator(f'#my-keys-table tr[data-prefix="{own}"] button.revoke').click()
    page.wait_for_selector("#notice:has-text('you are now signed out')")
    assert page.locator("#whoami").inner_text() == "Demo tier"
    assert _status(console_stack, key) == 401


def test_the_admin_users_page_lists_every_user_with_keys_budget_and_spend(
    ui, console_stack: EmbeddedStack
) -> None:
    user_id, _ = _new_user(console_stack, "directory person")  # never made a request
    with _admin(console_stack) as admin:
        admin.put(f"/admin/users/{user_id}/budget", json={"usd": "7", "period": "total"})
    page = ui.open("/ui/admin#users")
    ui.sign_in(console_stack.admin_key)
    row = page.locator(f'#users-table tr[data-user="{user_id}"]')
    row.wait_for()
    assert row.locator('[data-field="keys"]').inner_text() == "1"
    assert row.locator('[data-field="budget"]').inner_text() == "$7.0000 (total)"
    assert row.locator('[data-field="spent"]').inner_text() == "$0"
    assert "of" in page.locator("#users-count").inner_text()
    row.locator("button.pick").click()
    assert page.input_value("#key-user") == user_id
    ui.shot("admin-users-directory")


class HostedPage(Page):
    """A page that may also talk to the stand-in hosted UI (the real one is another origin)."""

    def __init__(self, browser: Any, base: str, hosted: HostedUi) -> None:
        super().__init__(browser, base)
        self.hosted = hosted.origin

    def _check_origin(self, request: Any) -> None:
        if not request.url.startswith(self.hosted):
            super()._check_origin(request)


@pytest.fixture
def hosted_page(browser, console_stack, hosted_ui):
    page = HostedPage(browser, console_stack.url, hosted_ui)
    yield page
    page.close()
    assert not page.foreign, f"the console fetched from elsewhere: {page.foreign}"
    assert not page.errors, f"script errors in the console: {page.errors}"


def test_hosted_ui_sign_in_uses_the_code_grant_with_pkce(
    hosted_page, hosted_ui: HostedUi, console_stack: EmbeddedStack, cognito_pool
) -> None:
    page = hosted_page.open("/ui/#account")
    before = len(hosted_ui.exchanges)
    page.click("#cognito-signin")
    page.wait_for_selector("#signout")
    page.wait_for_selector("body[data-ready='true']")
    assert page.locator("#whoami").inner_text() == "Signed in (cognito)"
    asked = hosted_ui.authorizations[-1]
    assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == console_stack.url + "/ui/"
    assert hosted_ui.exchanges[before:] == [(True, "ok")]
    # Nothing of the exchange is left behind: not the code in the URL, not the verifier.
    assert "code=" not in page.url and page.url.endswith("/ui/#account")
    assert page.evaluate("sessionStorage.getItem('motherfluxer.pkce')") is None
    # The token the console holds is the pool's, and it works for self-service.
    page.locator("#my-keys-table").wait_for()
    page.fill("#my-key-name", "from cognito")
    page.click("#my-key-form button[type=submit]")
    key = page.locator("#my-new-key-value").inner_text()
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        mine = client.get("/v1/keys", headers={"Authorization": f"Bearer {key}"}).json()["data"]
        assert [k["name"] for k in mine] == ["from cognito"]
        users = client.get(
            "/admin/users",
            params={"newest_first": "true", "limit": 500},
            headers={"Authorization": f"Bearer {console_stack.admin_key}"},
        ).json()["data"]
    expected = str(uuid.uuid5(NAMESPACE, f"{cognito_pool.issuer}|{hosted_ui.sub}"))
    person = next(u for u in users if u["id"] == expected)
    assert person["name"] == hosted_ui.email and person["keys"] == 1
    hosted_page.shot("account-cognito")


def test_a_reply_with_another_state_is_refused_without_a_token_exchange(
    hosted_page, hosted_ui: HostedUi
) -> None:
    page = hosted_page.open("/ui/")
    before = len(hosted_ui.exchanges)
    hosted_ui.forge_state = True
    try:
        page.click("#cognito-signin")
        page.wait_for_selector("#notice:has-text('state mismatch')")
    finally:
        hosted_ui.forge_state = False
    assert page.locator("#whoami").inner_text() == "Demo tier"
    assert len(hosted_ui.exchanges) == before


def test_a_changed_code_verifier_is_rejected_at_the_token_endpoint(
    hosted_page, hosted_ui: HostedUi
) -> None:
    page = hosted_page.open("/ui/")

    def swap_verifier(route: Any) -> None:
        form = dict(p.split("=", 1) for p in route.request.post_data.split("&"))
        form["code_verifier"] = "x" * 43  # well-formed, but not the one behind the challenge
        route.continue_(post_data="&".join(f"{k}={v}" for k, v in form.items()))

    page.route(f"{hosted_ui.origin}/oauth2/token", swap_verifier)
    page.click("#cognito-signin")
    page.wait_for_selector("#notice:has-text('refused the code')")
    assert page.locator("#whoami").inner_text() == "Demo tier"
    assert hosted_ui.exchanges[-1] == (
        False,
        "invalid_grant: code_verifier does not match code_challenge",
    )


def test_the_stand_in_token_endpoint_checks_rfc_7636(hosted_ui: HostedUi) -> None:
    # RFC 7636 appendix B's example pair.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    redirect = "http://127.0.0.1:1/ui/"
    with httpx.Client(base_url=hosted_ui.origin, timeout=10, follow_redirects=False) as client:

        def authorize() -> str:
            res = client.get(
                "/oauth2/authorize",
                params={
                    "response_type": "code",
                    "client_id": "console-client-1",
                    "redirect_uri": redirect,
                    "scope": "openid email",
                    "state": "s1",
                    "code_challenge": s256(verifier),
                    "code_challenge_method": "S256",
                },
            )
            assert res.status_code == 302
            return httpx.URL(res.headers["location"]).params["code"]

        def exchange(code: str, code_verifier: str) -> httpx.Response:
            form = {
                "grant_type": "authorization_code",
                "client_id": "console-client-1",
                "code": code,
                "redirect_uri": redirect,
                "code_verifier": code_verifier,
            }
            return client.post("/oauth2/token", data=form)

        assert exchange(authorize(), verifier[:-1] + "x").status_code == 400
        code = authorize()
        good = exchange(code, verifier)
        assert good.status_code == 200 and json.loads(good.text)["id_token"].count(".") == 2
        assert exchange(code, verifier).status_code == 400  # a code works once
        plain = client.get(
            "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": "console-client-1",
                "redirect_uri": redirect,
                "scope": "openid",
                "code_challenge": verifier,
                "code_challenge_method": "plain",
            },
        )
        assert plain.status_code == 400  # only S256
