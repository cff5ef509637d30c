"""Budget periods: a UTC day, an ISO week from Monday 00:00 UTC, a calendar month, or the
lifetime of the budget (no period)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from llmportal.quota.service import day_bounds, month_bounds

Period = Literal["daily", "weekly", "monthly"]
PERIODS: tuple[str, ...] = get_args(Period)


def week_bounds(now: datetime) -> tuple[datetime, datetime]:
    day, _ = day_bounds(now)
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=7)


def period_bounds(period: str | None, now: datetime) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the period holding `now`; (None, None) for a lifetime budget."""
    now = now.astimezone(UTC)
    if period == "daily":
        return day_bounds(now)
    if period == "weekly":
        return week_bounds(now)
    if period == "monthly":
        return month_bounds(now)
    return None, None


def period_label(period: str | None, start: datetime | None) -> str:
    """Names one period of a budget: 'd:2026-01-05', 'w:2026-01-05', 'm:2026-01' or 'all'."""
    if start is None:
        return "all"
    if period == "monthly":
        return f"m:{start:%Y-%m}"
    return f"{'w' if period == 'weekly' else 'd'}:{start:%Y-%m-%d}"


def period_words(period: str | None) -> str:
    """'daily', 'weekly', 'monthly' or 'lifetime', as messages say it."""
    return period or "lifetime"
