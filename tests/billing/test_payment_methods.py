"""Payment methods against the Stripe emulator (localstripe)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.billing.conftest import KeyIssuer

PMS = "/api/billing/payment-methods"


async def add(c: httpx.AsyncClient, pm: str = "pm_card_visa", **extra: Any) -> httpx.Response:
    return await c.post(PMS, json={"paymentMethodId": pm, **extra})


async def test_add_list_set_default_and_remove(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    r = await add(stripe_client)
    assert r.status_code == 201, r.text
    first = r.json()["paymentMethod"]
    assert first["id"].startswith("pm_") and first["id"] != "pm_card_visa"
    assert {
        k: first[k] for k in ("type", "brand", "last4", "expMonth", "expYear", "isDefault")
    } == {
        "type": "card",
        "brand": "visa",
        "last4": "4242",
        "expMonth": 12,
        "expYear": 2030,
        "isDefault": True,
    }
    second = (await add(stripe_client)).json()["paymentMethod"]
    assert second["isDefault"] is False

    listed = (await stripe_client.get(PMS)).json()["paymentMethods"]
    assert {(m["id"], m["isDefault"]) for m in listed} == {
        (first["id"], True),
        (second["id"], False),
    }

    r = await stripe_client.patch(f"{PMS}/{second['id']}", json={"isDefault": True})
    assert r.status_code == 200
    assert r.json()["paymentMethod"]["isDefault"] is True
    listed = (await stripe_client.get(PMS)).json()["paymentMethods"]
    assert {(m["id"], m["isDefault"]) for m in listed} == {
        (first["id"], False),
        (second["id"], True),
    }

    # Removing the default makes the remaining card the default.
    r = await stripe_client.delete(f"{PMS}/{second['id']}")
    assert (r.status_code, r.json()) == (200, {"success": True})
    listed = (await stripe_client.get(PMS)).json()["paymentMethods"]
    assert [(m["id"], m["isDefault"]) for m in listed] == [(first["id"], True)]
    overview = (await stripe_client.get("/api/billing")).json()
    assert [
        (m["id"], m["brand"], m["last4"], m["isDefault"]) for m in overview["paymentMethods"]
    ] == [(first["id"], "visa", "4242", True)]


async def test_add_as_default_explicitly(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    await add(stripe_client)
    r = await add(stripe_client, setDefault=True)
    assert r.json()["paymentMethod"]["isDefault"] is True


async def test_a_declined_card_is_402(stripe_client: httpx.AsyncClient, stripe_user: Any) -> None:
    r = await add(stripe_client, "pm_card_visa_chargeDeclined")
    assert (r.status_code, r.json()) == (402, {"error": "Your card was declined."})
    assert (await stripe_client.get(PMS)).json() == {"paymentMethods": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "paymentMethodId is required"),
        (
            {"paymentMethodId": "card_123"},
            "paymentMethodId: must be a Stripe payment method id (pm_...)",
        ),
        (
            {"paymentMethodId": "pm_x", "setDefault": "maybe"},
            "setDefault: Input should be a valid boolean, unable to interpret input",
        ),
    ],
)
async def test_add_validation(
    stripe_client: httpx.AsyncClient, stripe_user: Any, body: dict[str, Any], message: str
) -> None:
    r = await stripe_client.post(PMS, json=body)
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_unknown_payment_methods_are_404(
    stripe_client: httpx.AsyncClient, stripe_user: Any
) -> None:
    assert (await add(stripe_client, "pm_doesnotexist")).status_code == 404
    await add(stripe_client)
    r = await stripe_client.patch(f"{PMS}/pm_doesnotexist", json={"isDefault": True})
    assert (r.status_code, r.json()) == (404, {"error": "Payment method not found"})
    r = await stripe_client.delete(f"{PMS}/pm_doesnotexist")
    assert r.status_code == 404


async def test_update_validation(stripe_client: httpx.AsyncClient, stripe_user: Any) -> None:
    pm = (await add(stripe_client)).json()["paymentMethod"]["id"]
    r = await stripe_client.patch(f"{PMS}/{pm}", json={})
    assert (r.status_code, r.json()) == (400, {"error": "isDefault is required"})
    r = await stripe_client.patch(f"{PMS}/{pm}", json={"isDefault": False})
    assert r.status_code == 400
    assert r.json()["error"].startswith("isDefault: only true is supported")


async def test_another_users_payment_method_is_404(
    stripe_client: httpx.AsyncClient,
    stripe_user: Any,
    stripe_other: httpx.AsyncClient,
    stripe_other_user: Any,
) -> None:
    mine = (await add(stripe_client)).json()["paymentMethod"]["id"]
    # The other user has no Stripe customer yet, then has one.
    for _ in range(2):
        r = await stripe_other.patch(f"{PMS}/{mine}", json={"isDefault": True})
        assert (r.status_code, r.json()) == (404, {"error": "Payment method not found"})
        assert (await stripe_other.delete(f"{PMS}/{mine}")).status_code == 404
        r = await add(stripe_other, mine)
        assert (r.status_code, r.json()) == (404, {"error": "Payment method not found"})
    assert [m["id"] for m in (await stripe_client.get(PMS)).json()["paymentMethods"]] == [mine]
    assert (await stripe_other.get(PMS)).json() == {"paymentMethods": []}


async def test_api_keys_cannot_change_payment_methods(
    stripe_client: httpx.AsyncClient, stripe_user: Any, issue_stripe_key: KeyIssuer
) -> None:
    pm = (await add(stripe_client)).json()["paymentMethod"]["id"]
    headers = (await issue_stripe_key(stripe_user)).headers
    listed = await stripe_client.get(PMS, headers=headers)
    assert [m["id"] for m in listed.json()["paymentMethods"]] == [pm]
    for r in (
        await stripe_client.post(PMS, json={"paymentMethodId": "pm_card_visa"}, headers=headers),
        await stripe_client.patch(f"{PMS}/{pm}", json={"isDefault": True}, headers=headers),
        await stripe_client.delete(f"{PMS}/{pm}", headers=headers),
    ):
        assert (r.status_code, r.json()) == (
            403,
            {"error": "This endpoint requires a browser session"},
        )
