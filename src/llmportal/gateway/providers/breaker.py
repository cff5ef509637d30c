"""A circuit breaker per provider: stop sending to an upstream that keeps failing, probe it again
after a cool-down.

closed -> (threshold consecutive failures) -> open: every call fails fast with 502
open -> (cool-down passed) -> half-open: one call goes through as a probe, the others fail fast
half-open -> probe succeeds -> closed; probe fails -> open for another cool-down
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from llmportal.gateway.providers.base import UpstreamError

log = logging.getLogger("llmportal.gateway")


class ProviderUnavailable(UpstreamError):
    """The breaker is open: the request was not sent."""


class CircuitBreaker:
    def __init__(
        self,
        provider_id: str,
        threshold: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider_id = provider_id
        self.threshold = threshold  # 0: never opens
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Raise ProviderUnavailable unless a call may go out now (a probe, when half-open)."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self.probing:
            self.probing = True
            return
        raise ProviderUnavailable(f"Provider '{self.provider_id}' is unavailable")

    def succeeded(self) -> None:
        if self.opened_at is not None:
            log.warning("provider %s answers again; circuit closed", self.provider_id)
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failed(self) -> None:
        self.failures += 1
        was_probe = self.probing
        self.probing = False
        if was_probe or (self.threshold and self.failures >= self.threshold):
            if self.opened_at is None or was_probe:
                log.warning(
                    "provider %s failed %d times in a row; circuit open for %gs",
                    self.provider_id,
                    self.failures,
                    self.cooldown_s,
                )
            self.opened_at = self.clock()

    def abandoned(self) -> None:
        """The call ended without telling (cancelled): let another request probe."""
        self.probing = False
