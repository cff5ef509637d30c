"""maxBudget / budgetPeriod in request bodies (keys, profile, admin) and the budget fields of
the answers: the amount, its period, the spend so far in the current period, its end."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from llmportal.budgets.money import MAX_BUDGET_USD, to_micros, usd
from llmportal.budgets.periods import period_bounds
from llmportal.openapi import Timestamp

BudgetPeriod = Literal["daily", "weekly", "monthly"]


class BudgetFields(BaseModel):
    """Absent: unchanged. maxBudget null: no budget; budgetPeriod null: over the lifetime."""

    maxBudget: Decimal | None = Field(
        default=None,
        gt=0,
        le=MAX_BUDGET_USD,
        decimal_places=6,
        allow_inf_nan=False,
        description="USD (up to 6 decimals); null: no budget",
    )
    budgetPeriod: BudgetPeriod | None = Field(
        default=None, description="UTC day, ISO week from Monday, calendar month; null: lifetime"
    )

    def budget_given(self) -> bool:
        return bool({"maxBudget", "budgetPeriod"} & self.model_fields_set)


class BudgetOut(BaseModel):
    maxBudget: float | None = Field(description="USD; null: no budget")
    budgetPeriod: BudgetPeriod | None = Field(description="null: the budget is for the lifetime")
    budgetSpend: float | None = Field(
        description="USD spent in the current period (null without a budget)"
    )
    budgetResetsAt: Timestamp | None = Field(description="the current period's end")


def _iso(dt: datetime | None) -> str | None:  # users.schemas.iso, which imports this module
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def apply_budget(row: Any, body: BudgetFields, now: datetime) -> bool:
    """Set the budget fields present in `body` on `row`; True when anything changed."""
    fields = body.model_fields_set
    limit = row.max_budget_micros
    period = row.budget_period
    if "maxBudget" in fields:
        limit = to_micros(body.maxBudget) if body.maxBudget is not None else None
    if "budgetPeriod" in fields:
        period = body.budgetPeriod
    if limit == row.max_budget_micros and period == row.budget_period:
        return False
    if limit is not None and (row.max_budget_micros is None or period != row.budget_period):
        row.budget_set_at = now  # a new tally: it starts from what the database recorded
    row.max_budget_micros = limit
    row.budget_period = period
    return True


def budget_view(row: Any, spend_micros: int | None, now: datetime) -> dict[str, Any]:
    limit = row.max_budget_micros
    _, end = period_bounds(row.budget_period, now)
    return {
        "maxBudget": usd(limit) if limit else None,
        "budgetPeriod": row.budget_period,
        "budgetSpend": usd(spend_micros) if limit and spend_micros is not None else None,
        "budgetResetsAt": _iso(end) if limit else None,
    }
