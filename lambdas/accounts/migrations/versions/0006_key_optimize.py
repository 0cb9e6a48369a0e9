"""A key's default optimisation goal (`routing.optimize`: quality, cost or latency).

Revision ID: 0006_key_optimize
Revises: 0005_key_names
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_key_optimize"
down_revision = "0005_key_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null: the key has no goal of its own (balanced, unless the request names one).
    op.add_column("api_keys", sa.Column("optimize", sa.Text, nullable=True))
    op.create_check_constraint(
        "api_keys_optimize_goal",
        "api_keys",
        "optimize IS NULL OR optimize IN ('quality', 'cost', 'latency')",
    )


def downgrade() -> None:
    op.drop_constraint("api_keys_optimize_goal", "api_keys", type_="check")
    op.drop_column("api_keys", "optimize")
