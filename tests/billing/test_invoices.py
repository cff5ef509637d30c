from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmportal.billing.models import Invoice
from llmportal.db import transaction
from llmportal.portal import Portal


async def add_invoices(portal: Portal, user: Any, count: int) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with transaction(portal.sessionmaker) as db:
        for i in range(count):
            db.add(
                Invoice(
                    user_id=user.id,
                    stripe_invoice_id=f"in_{user.id}_{i:02d}",
                    number=f"N-{i:02d}",
                    status="paid",
                    amount_due=2900,
                    amount_paid=2900,
                    currency="usd",
                    period_start=base + timedelta(days=i),
                    period_end=base + timedelta(days=i + 30),
                    created_at=base + timedelta(days=i),
                )
            )


async def test_invoices_are_paginated_newest_first(
    portal: Portal, user_client: httpx.AsyncClient, user: Any, make_user: Callable[..., Any]
) -> None:
    await add_invoices(portal, user, 25)
    await add_invoices(portal, await make_user(), 3)
    r = await user_client.get("/api/billing/invoices?limit=10&offset=20")
    assert r.status_code == 200
    body = r.json()
    assert (body["total"], body["limit"], body["offset"]) == (25, 10, 20)
    assert [i["number"] for i in body["invoices"]] == ["N-04", "N-03", "N-02", "N-01", "N-00"]
    assert body["invoices"][0] == {
        "id": f"in_{user.id}_04",
        "number": "N-04",
        "status": "paid",
        "amountDue": 2900,
        "amountPaid": 2900,
        "currency": "usd",
        "periodStart": "2026-01-05",
        "periodEnd": "2026-02-04",
        "hostedInvoiceUrl": None,
        "invoicePdf": None,
        "createdAt": "2026-01-05T00:00:00Z",
    }
    default = (await user_client.get("/api/billing/invoices")).json()
    assert len(default["invoices"]) == 20 and default["invoices"][0]["number"] == "N-24"
    overview = (await user_client.get("/api/billing")).json()
    assert [i["number"] for i in overview["recentInvoices"]] == [
        f"N-{i}" for i in range(24, 19, -1)
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit: must be between 1 and 100"),
        ("limit=101", "limit: must be between 1 and 100"),
        ("limit=ten", "limit: must be an integer"),
        ("offset=-1", "offset: must be between 0 and 1000000000"),
        ("offset=1.5", "offset: must be an integer"),
    ],
)
async def test_bad_paging_is_400(user_client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await user_client.get(f"/api/billing/invoices?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})
