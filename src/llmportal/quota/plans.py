"""The plan a user is on, from settings.catalog.plans (seeded FREE and PRO, more from TOML)."""

from __future__ import annotations

from llmportal.config import PlanConfig, Settings

FALLBACK_TIER = "FREE"


def plan_for(settings: Settings, tier: str | None) -> PlanConfig:
    """The user's plan; a tier no longer in the catalog gets the Free plan's allowances."""
    plans = {p.tier: p for p in settings.catalog.plans}
    plan = plans.get((tier or FALLBACK_TIER).upper()) or plans.get(FALLBACK_TIER)
    if plan is None:  # a catalog without FREE: the most restrictive plan it has
        return min(settings.catalog.plans, key=lambda p: (p.api_keys, p.monthly_tokens or 2**62))
    return plan
