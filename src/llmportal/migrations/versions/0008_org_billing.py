"""organizations on a plan of their own: plan_tier, a Stripe customer, subscriptions and invoices

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import llmportal.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan_tier", sa.String(length=32), server_default="FREE", nullable=False)
        )

    op.create_table(
        "org_billing_customers",
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", llmportal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", llmportal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_org_billing_customers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_org_billing_customers")),
        sa.UniqueConstraint(
            "stripe_customer_id", name=op.f("uq_org_billing_customers_stripe_customer_id")
        ),
    )

    # A subscription or invoice is a user's or an org's: user_id becomes optional.
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("org_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_subscriptions_org_id_organizations"),
            "organizations",
            ["org_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index(batch_op.f("ix_subscriptions_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("org_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_invoices_org_id_organizations"),
            "organizations",
            ["org_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_invoices_org_created", ["org_id", "created_at"], unique=False)


def downgrade() -> None:
    # The orgs' subscriptions and invoices have no user to belong to: they go.
    op.execute("DELETE FROM invoices WHERE user_id IS NULL")
    op.execute("DELETE FROM subscriptions WHERE user_id IS NULL")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_org_created")
        batch_op.drop_constraint(batch_op.f("fk_invoices_org_id_organizations"), type_="foreignkey")
        batch_op.drop_column("org_id")
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=False)

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_org_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_subscriptions_org_id_organizations"), type_="foreignkey"
        )
        batch_op.drop_column("org_id")
        batch_op.alter_column("user_id", existing_type=sa.String(length=32), nullable=False)

    op.drop_table("org_billing_customers")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("plan_tier")
