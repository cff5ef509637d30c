"""budgets in USD on API keys and users, and the alerts sent for them

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import llmportal.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUDGET_TABLES = ("api_keys", "users")


def upgrade() -> None:
    for table in BUDGET_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("max_budget_micros", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("budget_period", sa.String(length=16), nullable=True))
            batch_op.add_column(
                sa.Column("budget_set_at", llmportal.db.UTCDateTime(timezone=True), nullable=True)
            )
    op.create_table(
        "budget_alerts",
        sa.Column("created_at", llmportal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("owner_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("max_budget_micros", sa.BigInteger(), nullable=False),
        sa.Column("spend_micros", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_alerts")),
        sa.UniqueConstraint(
            "scope",
            "owner_id",
            "period",
            "threshold",
            "max_budget_micros",
            name=op.f("uq_budget_alerts_scope"),
        ),
    )


def downgrade() -> None:
    op.drop_table("budget_alerts")
    for table in reversed(BUDGET_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("budget_set_at")
            batch_op.drop_column("budget_period")
            batch_op.drop_column("max_budget_micros")
