"""Which deployment of a model takes a request.

Strategies (a model's `routing`): "weighted", a shuffle weighted by each deployment's `weight`
(the default); "least-in-flight", the one with fewest requests under way in this instance;
"lowest-latency", the one answering fastest lately (one never measured goes first). Ties are
broken by the weighted shuffle. A deployment cooling down after a failure is skipped by every
instance; one at its rpm (exact, a sliding minute shared through Redis) or its tpm (tokens
reported this minute) is skipped until it has room. The gateway tries the deployments of a
model one after another (each at most once) before the model's fallbacks.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass

from llmportal.config import DeploymentConfig, ModelConfig
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.routing.shared import MemoryRoutingState, RoutingState
from llmportal.gateway.routing.stats import DeploymentStats
from llmportal.gateway.types import Usage
from llmportal.ratelimit import Limiter, MemoryLimiter

log = logging.getLogger("llmportal.gateway")


class DeploymentsBusy(UpstreamError):
    """Every deployment of the model is at its per-minute limit."""

    status = 429

    def __init__(self, model_id: str, retry_after: int) -> None:
        super().__init__(
            f"Every deployment of model '{model_id}' is at its rate limit; retry in {retry_after}s"
        )
        self.retry_after = retry_after


class DeploymentsCooling(UpstreamError):
    """Every deployment of the model failed lately and is cooling down."""

    status = 503

    def __init__(self, model_id: str) -> None:
        super().__init__(f"No deployment of model '{model_id}' is available: all failed lately")


@dataclass(slots=True)
class Lease:
    """One attempt on one deployment, from the pick to the end of the answer."""

    router: Router
    model: ModelConfig  # the model as this deployment serves it (provider, upstream name)
    deployment: DeploymentConfig
    stats: DeploymentStats
    key: str
    shared: bool  # the model has other deployments: a failure here cools this one down
    started: float
    open: bool = True

    def answered(self) -> None:
        """The answer (or a stream's first event) came."""
        self.stats.answered(time.perf_counter() - self.started)

    async def end(self, ok: bool, usage: Usage | None = None) -> None:
        """The attempt is over: a failure cools the deployment down; tokens count to its tpm."""
        if not self.open:
            return
        self.open = False
        self.stats.ended(ok)
        cooldown = self.model.cooldown_s
        if not ok and self.shared and cooldown > 0:
            log.warning("deployment %s cooling down for %.0fs", self.key, cooldown)
            await self.router.state.cool(self.key, cooldown)
        if usage is not None and self.deployment.tpm and usage.total_tokens:
            await self.router.state.add_tokens(self.key, usage.total_tokens)


class Router:
    def __init__(
        self,
        limiter: Limiter | None = None,
        state: RoutingState | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.limiter = limiter or MemoryLimiter()
        self.state = state or MemoryRoutingState()
        self.rng = rng or random.Random()
        self.stats: dict[str, DeploymentStats] = {}

    @staticmethod
    def key(model: ModelConfig, deployment: DeploymentConfig) -> str:
        return f"{model.id}:{deployment.id}"

    def stats_of(self, key: str) -> DeploymentStats:
        found = self.stats.get(key)
        if found is None:
            found = self.stats[key] = DeploymentStats()
        return found

    def order(
        self, model: ModelConfig, candidates: list[DeploymentConfig]
    ) -> list[DeploymentConfig]:
        """The candidates in the order the model's strategy would try them."""
        # Efraimidis-Spirakis: sorting by u^(1/w) is a shuffle where each weight is the odds
        # of coming first.
        keyed = [(self.rng.random() ** (1.0 / d.weight), d) for d in candidates]
        if model.routing == "least-in-flight":
            return [
                d
                for _, d in sorted(
                    keyed, key=lambda kd: (self.stats_of(self.key(model, kd[1])).in_flight, -kd[0])
                )
            ]
        if model.routing == "lowest-latency":
            return [
                d
                for _, d in sorted(
                    keyed,
                    key=lambda kd: (self.stats_of(self.key(model, kd[1])).latency_s or 0.0, -kd[0]),
                )
            ]
        return [d for _, d in sorted(keyed, key=lambda kd: -kd[0])]

    async def pick(self, model: ModelConfig, tried: set[str]) -> Lease | None:
        """The next deployment to try, claimed (counted in flight and against its rpm); None
        when every deployment has been tried. Raises DeploymentsBusy / DeploymentsCooling when
        some are left but none can take the request now."""
        candidates = [d for d in model.deployments if d.id not in tried]
        if not candidates:
            return None
        shared = len(model.deployments) > 1
        keys = {d.id: self.key(model, d) for d in candidates}
        cooling: set[str] = set()
        used: dict[str, int] = {}
        metered = [d for d in candidates if d.tpm]
        if shared or metered:
            cd_keys = [keys[d.id] for d in candidates] if shared else []
            tpm_keys = [keys[d.id] for d in metered]
            cooling, counts = await self.state.read(cd_keys, tpm_keys)
            used = dict(zip(tpm_keys, counts, strict=True))
        retry_after: int | None = None
        for d in self.order(model, [d for d in candidates if keys[d.id] not in cooling]):
            key = keys[d.id]
            if d.tpm and used.get(key, 0) >= d.tpm:
                retry_after = min(retry_after or 60, 60 - int(time.time() % 60))
                continue
            if d.rpm:
                decision = await self.limiter.hit("deployment:" + key, d.rpm, 60.0)
                if not decision.allowed:
                    retry_after = min(retry_after or 60, decision.retry_after)
                    continue
            stats = self.stats_of(key)
            stats.in_flight += 1
            served = model.model_copy(
                update={"provider": d.provider, "upstream_model": d.upstream_model}
            )
            return Lease(self, served, d, stats, key, shared, time.perf_counter())
        if retry_after is not None:
            raise DeploymentsBusy(model.id, max(1, retry_after))
        raise DeploymentsCooling(model.id)

    async def view(self, model: ModelConfig) -> list[dict[str, object]]:
        """Each deployment as the admin sees it (this instance's counts, shared cooldowns)."""
        keys = [self.key(model, d) for d in model.deployments]
        left = await self.state.cooldowns(keys) if len(keys) > 1 else [0.0] * len(keys)
        rows: list[dict[str, object]] = []
        for d, key, cooling in zip(model.deployments, keys, left, strict=True):
            s = self.stats_of(key)
            rows.append(
                {
                    "id": d.id,
                    "provider": d.provider,
                    "upstreamModel": d.upstream_model or model.id,
                    "weight": d.weight,
                    "rpm": d.rpm,
                    "tpm": d.tpm,
                    "inFlight": s.in_flight,
                    "latencyMs": None if s.latency_s is None else round(s.latency_s * 1000, 1),
                    "requests": s.requests,
                    "failures": s.failures,
                    "errorRate": s.error_rate,
                    "coolingDown": cooling > 0,
                    "cooldownRemainingS": round(cooling, 1),
                }
            )
        return rows
