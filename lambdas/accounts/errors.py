"""The accounts package's failures: members of the router's one error hierarchy.

Each keeps its HTTP status, error type and code here; `router.errors` renders them in the one
`{"error": {"type", "message", "param", "code"}}` shape.
"""

from __future__ import annotations

from router.errors import APIError


class AccountsError(APIError):
    """Base class of the accounts failures (an optional Retry-After in seconds)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message, retry_after=retry_after)


class AuthError(AccountsError):
    """Unknown, revoked, expired or malformed key: one message for all, so none can be probed."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"

    def __init__(self, message: str = "Invalid API key.") -> None:
        super().__init__(message)


class Forbidden(AccountsError):
    status = 403
    type = "permission_error"
    code = "forbidden"


class RateLimited(AccountsError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class Overloaded(AccountsError):
    """Load shedding: this tier is over its share of in-flight requests in this process."""

    status = 429
    type = "rate_limit_error"
    code = "overloaded"


class BudgetExceeded(AccountsError):
    status = 402
    type = "budget_error"
    code = "budget_exceeded"


class Unavailable(AccountsError):
    """A dependency is down and this tier fails closed (demo when Redis is unreachable)."""

    status = 503
    type = "server_error"
    code = "limiter_unavailable"


class NotFound(AccountsError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class BadRequest(AccountsError):
    status = 400
    type = "invalid_request_error"
    code = "bad_request"


# One code per outage, so a client (and an operator reading logs) can tell them apart.
class AuthUnavailable(Unavailable):
    """The key store (PostgreSQL) cannot be read and this key is not in the cache."""

    code = "auth_unavailable"


class BudgetUnavailable(Unavailable):
    """The user's budget cannot be read from PostgreSQL to seed the live counter."""

    code = "budget_unavailable"


class HistoryUnavailable(Unavailable):
    """Conversation history (PostgreSQL) cannot be read or written."""

    code = "history_unavailable"


class AccountsUnavailable(Unavailable):
    """An admin or report query failed because PostgreSQL is unreachable."""

    code = "accounts_unavailable"
