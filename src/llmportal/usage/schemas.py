"""The summary body, built from aggregated buckets with integer money until the last step.

Rounding: every list of money values (daily costs, per-model costs, the cost breakdown) is
rounded to cents with the largest-remainder method, so its parts add up to the rounded total
(`stats.totalCost`). `byModel[].percentage` is the model's share of cost in tenths of a percent,
apportioned the same way so the list sums to exactly 100; when the period cost nothing it is the
share of tokens, and when there were no tokens either, the share of requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import Field

from llmportal.openapi import Day, ResponseModel

MICROS_PER_CENT = 10_000


class SummaryStats(ResponseModel):
    totalRequests: int
    totalTokens: int
    inputTokens: int
    outputTokens: int
    totalCost: float = Field(description="USD")
    avgResponseTime: int = Field(description="milliseconds")
    errorCount: int
    errorRate: float = Field(description="percent: 0.12 means 0.12 %")


class UsageDay(ResponseModel):
    date: Day
    requests: int
    tokens: int
    cost: float
    errors: int


class ModelUsage(ResponseModel):
    model: str
    requests: int
    tokens: int
    cost: float
    percentage: float = Field(description="the model's share of cost, in percent")


class CostBreakdown(ResponseModel):
    inputTokensCost: float
    outputTokensCost: float
    imagesCost: float
    total: float


class UsageSummary(ResponseModel):
    stats: SummaryStats
    dailyUsage: list[UsageDay]
    byModel: list[ModelUsage]
    costBreakdown: CostBreakdown


class KeyOption(ResponseModel):
    id: str
    name: str | None


class UsageFilters(ResponseModel):
    keys: list[KeyOption]
    models: list[str]


@dataclass(frozen=True, slots=True)
class Bucket:
    day: date
    model: str
    status: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    input_cost_micros: int
    output_cost_micros: int
    image_cost_micros: int
    latency_ms_sum: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_micros(self) -> int:
        return self.input_cost_micros + self.output_cost_micros + self.image_cost_micros


def div_round(numerator: int, denominator: int) -> int:
    """Integer division rounding half up (non-negative inputs)."""
    return (2 * numerator + denominator) // (2 * denominator)


def apportion(weights: Sequence[int], total: int) -> list[int]:
    """Split `total` in proportion to `weights`: integer parts that sum exactly to `total`."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [0] * len(weights)
    exact = [w * total for w in weights]
    parts = [e // weight_sum for e in exact]
    remainders = sorted(
        range(len(weights)), key=lambda i: (-(exact[i] % weight_sum), -weights[i], i)
    )
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


def to_cents(micros: Sequence[int]) -> list[int]:
    """Round each amount to cents so that the parts add up to the rounded sum."""
    target = div_round(sum(micros), MICROS_PER_CENT)
    parts = [m // MICROS_PER_CENT for m in micros]
    order = sorted(range(len(micros)), key=lambda i: (-(micros[i] % MICROS_PER_CENT), i))
    for i in order[: target - sum(parts)]:
        parts[i] += 1
    return parts


def dollars(cents: int) -> float:
    return cents / 100


def build_summary(buckets: Sequence[Bucket], days: Sequence[date]) -> dict[str, Any]:
    requests = sum(b.requests for b in buckets)
    errors = sum(b.requests for b in buckets if b.status == "error")
    prompt = sum(b.prompt_tokens for b in buckets)
    completion = sum(b.completion_tokens for b in buckets)
    latency = sum(b.latency_ms_sum for b in buckets)
    input_cost = sum(b.input_cost_micros for b in buckets)
    output_cost = sum(b.output_cost_micros for b in buckets)
    image_cost = sum(b.image_cost_micros for b in buckets)
    breakdown = to_cents([input_cost, output_cost, image_cost])
    total_cents = sum(breakdown)

    per_day: dict[date, list[int]] = {d: [0, 0, 0, 0] for d in days}  # req, tok, micros, err
    per_model: dict[str, list[int]] = {}  # req, tok, micros
    for b in buckets:
        d = per_day.setdefault(b.day, [0, 0, 0, 0])
        d[0] += b.requests
        d[1] += b.tokens
        d[2] += b.cost_micros
        d[3] += b.requests if b.status == "error" else 0
        m = per_model.setdefault(b.model, [0, 0, 0])
        m[0] += b.requests
        m[1] += b.tokens
        m[2] += b.cost_micros

    day_list = sorted(per_day)
    day_cents = to_cents([per_day[d][2] for d in day_list])
    models = sorted(per_model, key=lambda k: (-per_model[k][2], -per_model[k][1], k))
    model_cents = to_cents([per_model[k][2] for k in models])
    weights = next(
        (w for w in ([per_model[k][i] for k in models] for i in (2, 1, 0)) if sum(w) > 0),
        [0] * len(models),
    )
    tenths = apportion(weights, 1000)

    return {
        "stats": {
            "totalRequests": requests,
            "totalTokens": prompt + completion,
            "inputTokens": prompt,
            "outputTokens": completion,
            "totalCost": dollars(total_cents),
            "avgResponseTime": div_round(latency, requests) if requests else 0,
            "errorCount": errors,
            "errorRate": div_round(errors * 10_000, requests) / 100 if requests else 0,
        },
        "dailyUsage": [
            {
                "date": d.isoformat(),
                "requests": per_day[d][0],
                "tokens": per_day[d][1],
                "cost": dollars(cents),
                "errors": per_day[d][3],
            }
            for d, cents in zip(day_list, day_cents, strict=True)
        ],
        "byModel": [
            {
                "model": k,
                "requests": per_model[k][0],
                "tokens": per_model[k][1],
                "cost": dollars(cents),
                "percentage": share / 10,
            }
            for k, cents, share in zip(models, model_cents, tenths, strict=True)
        ],
        "costBreakdown": {
            "inputTokensCost": dollars(breakdown[0]),
            "outputTokensCost": dollars(breakdown[1]),
            "imagesCost": dollars(breakdown[2]),
            "total": dollars(total_cents),
        },
    }
