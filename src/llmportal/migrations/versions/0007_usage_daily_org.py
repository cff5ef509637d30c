"""usage_daily: the org of an org key's usage, so an org's summary reads the rollups

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.add_column(sa.Column("org_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_usage_daily_org_day", ["org_id", "day"], unique=False)
    # A key belongs to one org for good: its org is the one its records name.
    op.execute(
        "UPDATE usage_daily SET org_id = (SELECT r.org_id FROM usage_records r"
        " WHERE r.api_key_id = usage_daily.api_key_id AND r.org_id IS NOT NULL LIMIT 1)"
        " WHERE api_key_id != ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_org_day")
        batch_op.drop_column("org_id")
