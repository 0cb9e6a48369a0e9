"""Usage reports read from the ledger in one consistent snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts.store import AccountsStore, UsageFilter


class Reports:
    def __init__(self, store: AccountsStore) -> None:
        self.store = store

    async def usage_report(self, flt: UsageFilter, row_limit: int = 1000) -> dict[str, Any]:
        groups = self.store.usage_groups
        async with self.store.consistent_read() as conn:
            totals = await groups(flt, conn=conn)
            return {
                "filters": {
                    k: (str(v) if v is not None else None) for k, v in vars_of(flt).items()
                },
                "totals": totals[0] if totals else {},
                "by_model": await groups(flt, "model", conn=conn),
                "by_version": await groups(flt, "model", "version", conn=conn),
                "by_user": await groups(flt, "user_id", conn=conn),
                "rows": await self.store.usage_rows(flt, row_limit, conn=conn),
            }

    async def user_usage(
        self,
        user_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        row_limit: int = 1000,
    ) -> dict[str, Any]:
        flt = UsageFilter(user_id=user_id, since=since, until=until)
        async with self.store.consistent_read() as conn:
            totals = await self.store.usage_groups(flt, conn=conn)
            rows = await self.store.usage_rows(flt, row_limit, conn=conn)
        for row in rows:
            row.pop("user_id", None)
        return {"data": rows, "summary": totals[0] if totals else {}}


def vars_of(flt: UsageFilter) -> dict[str, Any]:
    return {name: getattr(flt, name) for name in flt.__slots__}
