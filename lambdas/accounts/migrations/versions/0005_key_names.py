"""A name on each API key, so a user can tell their own keys apart on the account page.

Revision ID: 0005_key_names
Revises: 0004_feedback
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_key_names"
down_revision = "0004_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("name", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "name")
