"""A stand-in for Cognito's hosted UI on loopback: `/oauth2/authorize` and `/oauth2/token` for
the authorization-code grant with PKCE (RFC 7636), signing tokens with the `LocalPool`'s key.

The person is taken as already signed in at the hosted UI, so `/oauth2/authorize` answers at
once with a redirect carrying a one-time code and the caller's `state`. `/oauth2/token` does
the real checks: the code is known and unused, issued to this client for this redirect URI, and
BASE64URL(SHA-256(code_verifier)) equals the `code_challenge` the authorize request carried.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.console.cognito_pool import CLIENT_ID, LocalPool
from tests.support.loopback_http import LoopbackHTTP, QuietHandler

VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Grant:
    challenge: str
    redirect_uri: str
    client_id: str
    sub: str
    email: str


@dataclass
class HostedUi(LoopbackHTTP):
    pool: LocalPool
    email: str = "hosted.person@example.com"
    sub: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Test switches: answer with a state other than the one sent.
    forge_state: bool = False
    authorizations: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[tuple[bool, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        ui = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/oauth2/authorize":
                    self.send_error(404)
                    return
                ui._authorize(self, {k: v[0] for k, v in parse_qs(url.query).items()})

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/oauth2/token":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                ui._token(self, form)

        self._serve(Handler)

    def router_env(self) -> dict[str, str]:
        return {
            "MOTHERFLUXER_COGNITO_DOMAIN": self.origin,
            "MOTHERFLUXER_COGNITO_CLIENT_ID": CLIENT_ID,
        }

    # -- endpoints ----------------------------------------------------------------------------
    def _authorize(self, h: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        self.authorizations.append(q)
        problems = [
            name
            for name, ok in (
                ("response_type", q.get("response_type") == "code"),
                ("client_id", q.get("client_id") == CLIENT_ID),
                ("code_challenge_method", q.get("code_challenge_method") == "S256"),
                ("code_challenge", len(q.get("code_challenge", "")) == 43),
                ("redirect_uri", q.get("redirect_uri", "").startswith("http://127.0.0.1:")),
                ("scope", "openid" in q.get("scope", "").split()),
            )
            if not ok
        ]
        if problems:
            _json(h, 400, {"error": "invalid_request", "error_description": ", ".join(problems)})
            return
        code = secrets.token_urlsafe(24)
        self._grants[code] = Grant(
            q["code_challenge"], q["redirect_uri"], q["client_id"], self.sub, self.email
        )
        state = "forged-" + secrets.token_urlsafe(8) if self.forge_state else q.get("state", "")
        h.send_response(302)
        h.send_header(
            "Location", f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}"
        )
        h.end_headers()

    def _token(self, h: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        grant = self._grants.pop(form.get("code", ""), None)  # single use, whatever happens
        verifier = form.get("code_verifier", "")
        checks = (
            ("unsupported_grant_type", form.get("grant_type") == "authorization_code"),
            ("invalid_grant: unknown or used code", grant is not None),
            ("invalid_client", grant is not None and form.get("client_id") == grant.client_id),
            (
                "invalid_grant: redirect_uri",
                grant is not None and form.get("redirect_uri") == grant.redirect_uri,
            ),
            ("invalid_grant: code_verifier format", bool(VERIFIER.match(verifier))),
            (
                "invalid_grant: code_verifier does not match code_challenge",
                grant is not None and s256(verifier) == grant.challenge,
            ),
        )
        failed = next((reason for reason, ok in checks if not ok), None)
        self.exchanges.append((failed is None, failed or "ok"))
        if failed is not None or grant is None:
            _json(h, 400, {"error": (failed or "invalid_grant").split(":")[0]})
            return
        _json(
            h,
            200,
            {
                "id_token": self.pool.token(grant.sub, email=grant.email),
                "access_token": self.pool.token(grant.sub, use="access"),
                "refresh_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "expires_in": 3600,
            },
        )


def _json(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    # The hosted UI's token endpoint answers browsers on any origin (a public client).
    h.send_header("Access-Control-Allow-Origin", h.headers.get("Origin") or "*")
    h.send_header("Cache-Control", "no-store")
    h.end_headers()
    h.wfile.write(data)
