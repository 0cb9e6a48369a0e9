"""The caller's x-request-id kept beside the router's ledger id, never as the ledger's key.

Revision ID: 0002_client_request_id
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_client_request_id"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("usage_ledger", sa.Column("client_request_id", sa.Text, nullable=True))
    # Not unique: callers reuse ids; the index serves "find my request" look-ups.
    op.create_index(
        "usage_ledger_client_request_id", "usage_ledger", ["user_id", "client_request_id"]
    )


def downgrade() -> None:
    op.drop_index("usage_ledger_client_request_id", table_name="usage_ledger")
    op.drop_column("usage_ledger", "client_request_id")
