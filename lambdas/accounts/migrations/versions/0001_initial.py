"""Initial accounts schema: users, api_keys, usage_ledger, budgets, prices, conversations.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False, default: bool = True) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if default else None,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("tier", sa.Text, nullable=False),
        _ts("created_at"),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.CheckConstraint("tier IN ('demo', 'registered', 'admin')", name="users_tier_valid"),
    )
    op.create_table(
        "api_keys",
        sa.Column("prefix", sa.Text, primary_key=True),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False),
        sa.Column(
            "user_id",
            UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("tier_override", sa.Text, nullable=True),
        _ts("created_at"),
        _ts("expires_at", nullable=True, default=False),
        _ts("revoked_at", nullable=True, default=False),
        _ts("last_used_at", nullable=True, default=False),
    )
    op.create_index("api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "usage_ledger",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("request_id", sa.Text, nullable=False, unique=True),
        sa.Column("user_id", UUID(as_uuid=True), nullable=True),
        sa.Column("key_prefix", sa.Text, nullable=True),
        sa.Column("client_ip_hash", sa.Text, nullable=True),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=True),
        sa.Column("instance_id", sa.Text, nullable=True),
        sa.Column("tokens_in", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tokens_out", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost_usd", sa.Numeric(18, 9), nullable=False, server_default="0"),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("route_reason", sa.Text, nullable=True),
        sa.Column("cached", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("usage_ledger_user_time", "usage_ledger", ["user_id", "created_at"])
    op.create_index(
        "usage_ledger_model_version_time", "usage_ledger", ["model", "version", "created_at"]
    )
    op.create_index("usage_ledger_time", "usage_ledger", ["created_at"])
    op.create_table(
        "budgets",
        sa.Column(
            "user_id",
            UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("limit_usd", sa.Numeric(18, 9), nullable=False),
        sa.Column("period", sa.Text, nullable=False, server_default="total"),
        sa.Column("spent_usd", sa.Numeric(18, 9), nullable=False, server_default="0"),
        _ts("alert_80_sent_at", nullable=True, default=False),
        _ts("updated_at"),
        sa.CheckConstraint("period IN ('monthly', 'total')", name="budgets_period_valid"),
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=True),
        sa.Column("input_per_1m", sa.Numeric(18, 9), nullable=True),
        sa.Column("output_per_1m", sa.Numeric(18, 9), nullable=True),
        sa.Column("instance_hour_usd", sa.Numeric(18, 9), nullable=True),
        sa.Column("measured_tokens_per_s", sa.Float, nullable=True),
        _ts("updated_at"),
        sa.UniqueConstraint("model", "version", name="prices_model_version"),
    )
    op.create_table(
        "conversations",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "user_id",
            UUID(as_uuid=True),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.Text, nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_index("conversations_user_updated", "conversations", ["user_id", "updated_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "conversation_id",
            UUID(as_uuid=True),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=True),
        _ts("created_at"),
    )
    op.create_index("messages_conversation", "messages", ["conversation_id", "id"])


def downgrade() -> None:
    for table in ("messages", "conversations", "prices", "budgets", "usage_ledger", "api_keys"):
        op.drop_table(table)
    op.drop_table("users")
