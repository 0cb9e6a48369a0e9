"""Accounts: tiers, API keys, rate limits, budgets, cost, usage ledger, response cache."""

from accounts.errors import (
    AccountsError,
    AuthError,
    BudgetExceeded,
    Forbidden,
    NotFound,
    Overloaded,
    RateLimited,
    Unavailable,
)
from accounts.tiers import Caller, TierLimits

__all__ = [
    "AccountsError",
    "AuthError",
    "BudgetExceeded",
    "Caller",
    "Forbidden",
    "NotFound",
    "Overloaded",
    "RateLimited",
    "TierLimits",
    "Unavailable",
]
