"""organizations: a USD budget and a model allow-list, as keys have

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import llmportal.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_budget_micros", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("budget_period", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("budget_set_at", llmportal.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("models", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("models")
        batch_op.drop_column("budget_set_at")
        batch_op.drop_column("budget_period")
        batch_op.drop_column("max_budget_micros")
