"""Ratings of served requests, and the routed task on every ledger row.

Revision ID: 0004_feedback
Revises: 0003_responses
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0004_feedback"
down_revision = "0003_responses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The task the router classified the request as (it was only inside route_reason before).
    op.add_column("usage_ledger", sa.Column("task", sa.Text, nullable=True))
    op.create_table(
        "feedback",
        sa.Column(
            "request_id",
            sa.Text,
            sa.ForeignKey("usage_ledger.request_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("key_prefix", sa.Text, nullable=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=True),
        sa.Column("instance_id", sa.Text, nullable=True),
        sa.Column("task", sa.Text, nullable=True),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("score IN (-1, 1, 2, 3, 4, 5)", name="feedback_score_valid"),
    )
    op.create_index("feedback_model_version", "feedback", ["model", "version"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_column("usage_ledger", "task")
