"""PostgreSQL tables for accounts, keys, usage, budgets, prices and opt-in conversations.

The alembic migrations in `migrations/` create exactly these tables; the metadata here is what
the queries are written against, so a change to either must be mirrored in the other.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("tier", sa.Text, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.CheckConstraint("tier IN ('demo', 'registered', 'admin')", name="users_tier_valid"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("prefix", sa.Text, primary_key=True),
    sa.Column("secret_hash", sa.LargeBinary, nullable=False),
    sa.Column(
        "user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False, server_default="{}"),
    sa.Column("tier_override", sa.Text, nullable=True),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("api_keys_user_id", "user_id"),
)

usage_ledger = sa.Table(
    "usage_ledger",
    metadata,
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
    sa.Index("usage_ledger_user_time", "user_id", "created_at"),
    sa.Index("usage_ledger_model_version_time", "model", "version", "created_at"),
    sa.Index("usage_ledger_time", "created_at"),
)

budgets = sa.Table(
    "budgets",
    metadata,
    sa.Column(
        "user_id",
        UUID(as_uuid=True),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("limit_usd", sa.Numeric(18, 9), nullable=False),
    sa.Column("period", sa.Text, nullable=False, server_default="total"),
    sa.Column("spent_usd", sa.Numeric(18, 9), nullable=False, server_default="0"),
    sa.Column("alert_80_sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("period IN ('monthly', 'total')", name="budgets_period_valid"),
)

prices = sa.Table(
    "prices",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=True),
    sa.Column("input_per_1m", sa.Numeric(18, 9), nullable=True),
    sa.Column("output_per_1m", sa.Numeric(18, 9), nullable=True),
    sa.Column("instance_hour_usd", sa.Numeric(18, 9), nullable=True),
    sa.Column("measured_tokens_per_s", sa.Float, nullable=True),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("model", "version", name="prices_model_version"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column(
        "user_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("title", sa.Text, nullable=True),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("conversations_user_updated", "user_id", "updated_at"),
)

messages = sa.Table(
    "messages",
    metadata,
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
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Index("messages_conversation", "conversation_id", "id"),
)

TABLES_IN_TRUNCATE_ORDER = (
    "messages",
    "conversations",
    "usage_ledger",
    "budgets",
    "api_keys",
    "prices",
    "users",
)


def sync_url(url: str) -> str:
    """Normalize any postgres URL to the psycopg 3 driver (which serves sync and async engines)."""
    for scheme in (
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    raise ValueError("expected a postgresql:// URL")
