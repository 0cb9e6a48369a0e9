"""What a route module hands the pipeline, and what admission answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routing.request_view import RequestView


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A request a route module has parsed: the OpenAI body to relay and the routing view.

    `path` is the OpenAI path the instance is called on. `manual_not_served_404` is seed 003's
    `/inference` contract: a manual model with no healthy instance is a 404 there, not a 503.
    """

    path: str
    payload: dict[str, Any]
    view: RequestView
    stream: bool
    manual_not_served_404: bool = False
    # The caller's own `x-request-id`: stored beside the ledger id and echoed, never the key.
    client_request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """The policy's answer to "may this request go, and how": never a change to the request.

    `candidates` is the plan's (model, version) order, narrowed to what the caller may use;
    `max_tokens` the clamp the instance gets (None: the body's own value); `capture_text`
    asks the dispatcher for the answer's text (conversation history); `headers` are added to
    the answer; `ticket` is the policy's own state for this request (reservations).
    """

    candidates: tuple[tuple[str, str], ...]
    max_tokens: int | None = None
    capture_text: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    ticket: Any = None

    def upstream_body(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.max_tokens is None:
            return payload
        body = {k: v for k, v in payload.items() if k != "max_completion_tokens"}
        body["max_tokens"] = self.max_tokens
        return body
