"""Budget amounts: integer micro-dollars inside, USD numbers in JSON, "$5.00" in messages."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_USD = 1_000_000
MAX_BUDGET_USD = 1_000_000_000


def to_micros(usd: Decimal) -> int:
    return int((usd * MICROS_PER_USD).to_integral_value(ROUND_HALF_UP))


def usd(micros: int) -> float:
    return round(micros / MICROS_PER_USD, 6)


def usd_text(micros: int) -> str:
    """Cents when the amount is whole cents (or large), else as many digits as it needs."""
    if micros % 10_000 == 0 or abs(micros) >= 100 * MICROS_PER_USD:
        return f"${micros / MICROS_PER_USD:,.2f}"
    text = f"{micros / MICROS_PER_USD:.6f}".rstrip("0")
    return f"${text}"
