"""Budget alert emails at 80 % and 100 %, each once per period, scope and budget amount.

A settlement that takes a budget past a threshold records it as a budget_alerts row (unique,
so with several instances only the first one to insert it sends the email) and mails the
owner through the portal's mailer, in a task of its own: the request never waits on it. Past
80 %, a budget that refuses a request is used up for it: that sends the 100 % alert too, since
lowering max_tokens to what is left means spend stops just short of the limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.budgets.models import BudgetAlert
from llmportal.budgets.money import usd_text
from llmportal.budgets.periods import period_label, period_words
from llmportal.budgets.store import Tally
from llmportal.db import transaction
from llmportal.email.templates import budget_alert_email

log = logging.getLogger("llmportal.budgets")

THRESHOLDS = (80, 100)
KNOWN_MAX = 10_000


class BudgetAlerts:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        mailer: Callable[[], Any],
        public_url: str,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.mailer = mailer
        self.public_url = public_url
        # (tally, limit, threshold) this process knows to be sent: no insert attempt per request
        self._known: set[tuple[str, int, int]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # the alert under way per tally: the next one waits for it, so 80 % is mailed before 100 %
        self._last: dict[str, asyncio.Task[None]] = {}

    def check(self, tallies: Sequence[Tally], spends: Sequence[int | None]) -> None:
        for tally, spend in zip(tallies, spends, strict=True):
            if spend is not None:
                crossed = [p for p in THRESHOLDS if spend * 100 >= tally.limit * p]
                self._maybe(tally, crossed, spend)

    def refused(self, tally: Tally, spent: int) -> None:
        if spent * 100 >= tally.limit * THRESHOLDS[0]:
            self._maybe(tally, list(THRESHOLDS), spent)

    def _maybe(self, tally: Tally, crossed: list[int], spend: int) -> None:
        new = [p for p in crossed if (tally.key, tally.limit, p) not in self._known]
        if not new:
            return
        if len(self._known) >= KNOWN_MAX:
            self._known.clear()
        self._known.update((tally.key, tally.limit, p) for p in new)
        before = self._last.get(tally.key)
        task = asyncio.create_task(self._after(before, tally, new, spend), name="budget-alert")
        self._tasks.add(task)
        self._last[tally.key] = task
        task.add_done_callback(lambda t: self._done(tally.key, t))

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(key) is task:
            del self._last[key]

    async def _after(
        self, before: asyncio.Task[None] | None, tally: Tally, thresholds: list[int], spend: int
    ) -> None:
        if before is not None:
            await asyncio.wait([before])
        await self._send(tally, thresholds, spend)

    async def drain(self) -> None:
        """Wait for the alerts under way (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _send(self, tally: Tally, thresholds: list[int], spend: int) -> None:
        try:
            recorded = [p for p in thresholds if await self._record(tally, p, spend)]
            scope = tally.scope
            if not recorded or scope.notify is None:
                return
            resets = f"{tally.end:%Y-%m-%d %H:%M} UTC" if tally.end is not None else None
            email = budget_alert_email(
                self.public_url,
                scope.notify,
                None,
                owner=scope.name,
                threshold=max(recorded),
                spent=usd_text(spend),
                budget=f"{usd_text(scope.limit)} {period_words(scope.period)} budget",
                resets=resets,
            )
            await self.mailer().send_safely(email)
        except Exception:  # the database away, say: the alert is retried on the next crossing
            for p in thresholds:
                self._known.discard((tally.key, tally.limit, p))
            log.exception("budget alert for %s %s not sent", tally.scope.kind, tally.scope.owner_id)

    async def _record(self, tally: Tally, threshold: int, spend: int) -> bool:
        """True when this call recorded the alert; False when it had been already."""
        scope = tally.scope
        try:
            async with transaction(self.sessionmaker) as db:
                db.add(
                    BudgetAlert(
                        scope=scope.kind,
                        owner_id=scope.owner_id,
                        period=period_label(scope.period, tally.start),
                        threshold=threshold,
                        max_budget_micros=scope.limit,
                        spend_micros=spend,
                    )
                )
        except IntegrityError:
            return False
        return True
