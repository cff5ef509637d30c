"""Who is billed: a user or an organization. Each has its own Stripe customer, plan tier,
subscriptions and invoices; billing's functions take an Account and never mix the two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing.models import BillingCustomer, OrgBillingCustomer
from llmportal.orgs.models import Organization, OrgMember
from llmportal.users.models import User


@dataclass(slots=True)
class Account:
    row: User | Organization

    @property
    def is_org(self) -> bool:
        return isinstance(self.row, Organization)

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def plan_tier(self) -> str:
        return self.row.plan_tier

    @plan_tier.setter
    def plan_tier(self, tier: str) -> None:
        self.row.plan_tier = tier

    @property
    def name(self) -> str | None:
        return self.row.name

    def metadata(self) -> dict[str, str]:
        """What Stripe objects made for this account carry, so a webhook can find it."""
        return {"org_id": self.id} if self.is_org else {"user_id": self.id}

    def owner(self) -> dict[str, str]:
        """The owner columns of a new subscription or invoice row."""
        return {"org_id": self.id} if self.is_org else {"user_id": self.id}

    def owns(self, model: Any) -> ColumnElement[bool]:
        """Rows of `model` (Subscription, Invoice) that are this account's."""
        if self.is_org:
            return model.org_id == self.id
        return and_(model.user_id == self.id, model.org_id.is_(None))

    def says(self, for_user: str, for_org: str) -> str:
        return for_org if self.is_org else for_user


def user_account(user: User) -> Account:
    return Account(user)


def org_account(org: Organization) -> Account:
    return Account(org)


async def contact_email(db: AsyncSession, account: Account) -> str | None:
    """Where Stripe sends receipts: the user's email; an org's longest-standing owner's."""
    if isinstance(account.row, User):
        return account.row.email
    return await db.scalar(
        select(User.email)
        .join(OrgMember, OrgMember.user_id == User.id)
        .where(OrgMember.org_id == account.id, OrgMember.role == "OWNER")
        .order_by(OrgMember.created_at, OrgMember.id)
        .limit(1)
    )


def customer_table(account: Account) -> type[BillingCustomer] | type[OrgBillingCustomer]:
    return OrgBillingCustomer if account.is_org else BillingCustomer


async def customer_id_of(db: AsyncSession, account: Account) -> str | None:
    if account.is_org:
        return await db.scalar(
            select(OrgBillingCustomer.stripe_customer_id).where(
                OrgBillingCustomer.org_id == account.id
            )
        )
    return await db.scalar(
        select(BillingCustomer.stripe_customer_id).where(BillingCustomer.user_id == account.id)
    )


async def account_of_customer(db: AsyncSession, customer_id: str) -> Account | None:
    user = await db.scalar(
        select(User)
        .join(BillingCustomer, BillingCustomer.user_id == User.id)
        .where(BillingCustomer.stripe_customer_id == customer_id)
    )
    if user is not None:
        return user_account(user)
    org = await db.scalar(
        select(Organization)
        .join(OrgBillingCustomer, OrgBillingCustomer.org_id == Organization.id)
        .where(OrgBillingCustomer.stripe_customer_id == customer_id)
    )
    return org_account(org) if org is not None else None


async def account_of_metadata(db: AsyncSession, metadata: dict[str, Any]) -> Account | None:
    """The account a Stripe object's metadata names (objects made here carry one id)."""
    org_id, user_id = metadata.get("org_id"), metadata.get("user_id")
    if isinstance(org_id, str):
        org = await db.get(Organization, org_id)
        return org_account(org) if org is not None else None
    if isinstance(user_id, str):
        user = await db.get(User, user_id)
        return user_account(user) if user is not None else None
    return None
