"""CloudFormation custom resource (provider framework `on_event`): migrate on deploy.

Create and Update upgrade to the newest revision; Delete does nothing, because dropping the
ledger when a stack is torn down would lose billing history (the database has its own
retention policy).
"""

from __future__ import annotations

import logging
from typing import Any

from accounts import migrate
from accounts.dbconfig import database_url

log = logging.getLogger(__name__)
PHYSICAL_ID = "motherfluxer-accounts-schema"


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request_type = event.get("RequestType")
    physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID
    if request_type in ("Create", "Update"):
        url = database_url()
        migrate.upgrade(url)
        revision = migrate.current(url) or ""
        log.info("accounts schema at revision %s", revision)
        return {"PhysicalResourceId": physical_id, "Data": {"Revision": revision}}
    if request_type == "Delete":
        return {"PhysicalResourceId": physical_id}
    raise ValueError(f"unexpected RequestType {request_type!r}")
