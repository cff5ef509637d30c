"""Budget alert emails go out in the order the thresholds were crossed, however long one
delivery takes: a slow 80 % email is never overtaken by the 100 % one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from llmportal.budgets.alerts import BudgetAlerts
from llmportal.budgets.scopes import Scope
from llmportal.budgets.store import Tally
from llmportal.ids import new_id
from llmportal.portal import Portal


class SlowFirstMailer:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def send_safely(self, email: Any) -> None:
        if not self.subjects and "80%" in email.subject:
            await asyncio.sleep(0.2)
        self.subjects.append(email.subject)


async def test_the_80_percent_alert_is_sent_before_the_100_percent_one(portal: Portal) -> None:
    mailer = SlowFirstMailer()
    alerts = BudgetAlerts(portal.sessionmaker, lambda: mailer, "http://portal.test")
    scope = Scope(
        kind="key",
        owner_id=new_id(),
        tag="t",
        limit=40_000,
        period="daily",
        set_at=None,
        name="API key 'ordered'",
        column="api_key_id",
        notify="owner@example.com",
    )
    start = datetime(2026, 12, 7, tzinfo=UTC)
    tally = Tally(key=f"k:{scope.owner_id}", scope=scope, start=start, end=None)

    alerts.check([tally], [33_000])  # past 80 %
    alerts.refused(tally, 39_000)  # then a refusal: used up
    await alerts.drain()

    assert mailer.subjects == [
        "API key 'ordered' has spent 80% of its $0.04 daily budget",
        "API key 'ordered' has used up its $0.04 daily budget",
    ]
