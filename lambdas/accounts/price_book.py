"""Price overrides loaded from Postgres, looked up per model version (else per model)."""

from __future__ import annotations

from accounts.pricing import Price
from accounts.store import AccountsStore


class PriceBook:
    def __init__(self, store: AccountsStore) -> None:
        self.store = store
        self.prices: dict[tuple[str, str | None], Price] = {}

    def price_for(self, model_id: str, version: str | None = None) -> Price | None:
        """A `prices` row for this model version, else for the model, else None (use the spec)."""
        return self.prices.get((model_id, version)) or self.prices.get((model_id, None))

    async def refresh(self) -> None:
        """Reload price overrides from Postgres (call at start-up and on a timer)."""
        self.prices = await self.store.load_prices()
