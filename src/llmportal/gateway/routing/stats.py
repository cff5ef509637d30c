"""What one instance has seen of each deployment: requests in flight, recent latency and
recent outcomes (the routing strategies read them; the admin view shows them)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

RECENT = 100  # outcomes the error rate is taken over
LATENCY_WEIGHT = 0.2  # of the newest sample in the moving average


@dataclass(slots=True)
class DeploymentStats:
    in_flight: int = 0
    latency_s: float | None = None  # moving average of the time to the answer / first event
    requests: int = 0
    failures: int = 0
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=RECENT))

    def answered(self, seconds: float) -> None:
        if self.latency_s is None:
            self.latency_s = seconds
        else:
            self.latency_s += LATENCY_WEIGHT * (seconds - self.latency_s)

    def ended(self, ok: bool) -> None:
        self.in_flight -= 1
        self.requests += 1
        self.failures += not ok
        self.outcomes.append(ok)

    @property
    def error_rate(self) -> float:
        if not self.outcomes:
            return 0.0
        return round(sum(not ok for ok in self.outcomes) / len(self.outcomes), 4)
