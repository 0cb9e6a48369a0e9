"""Stored Responses API answers (`store: true`), one row per response, owned by an API key.

Revision ID: 0003_responses
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0003_responses"
# The lead re-points this at 0002 when the accounts branch's migration merges.
down_revision = "0002_client_request_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("key_prefix", sa.Text, nullable=False),
        sa.Column(
            "user_id",
            UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("response", JSONB, nullable=False),
        sa.Column("history", JSONB, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("stored_responses_key_prefix", "stored_responses", ["key_prefix"])


def downgrade() -> None:
    op.drop_table("stored_responses")
