"""One completion's accounting: its quota reservation, its budget hold and its single usage
record."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

import anyio

from llmportal.config import ModelConfig
from llmportal.db import utcnow
from llmportal.deps import Principal
from llmportal.gateway.types import ChatRequest, TextPart, Usage
from llmportal.ids import new_id
from llmportal.usage.models import UsageRecord


class UsageSink(Protocol):
    def add(self, record: UsageRecord | dict[str, Any]) -> None:
        """A usage record, or its column values (what the gateway hands over: building an ORM
        instance costs more than the rest of the accounting)."""
        ...


class Quota(Protocol):
    """What the keys/plans work registers as portal.services["quota"]."""

    async def reserve(self, principal: Principal, estimated_tokens: int) -> Any: ...

    async def settle(self, reservation: Any, actual_total_tokens: int) -> None: ...

    async def release(self, reservation: Any) -> None: ...

    async def remaining(self, principal: Principal) -> int | None:
        """Tokens left under the caller's tightest limit; None when nothing limits them."""
        ...

    async def try_reserve(self, principal: Principal, estimated_tokens: int) -> Any | None:
        """Like reserve, but None (and nothing reserved) where a limit has no room for it."""
        ...

    def limited(self, principal: Principal) -> bool:
        """Whether any limit applies to the caller (else `remaining` is None)."""
        ...


class Budgets(Protocol):
    """portal.services["budgets"] (budgets.service.BudgetService)."""

    def scopes(self, principal: Principal) -> list[Any]: ...

    async def reserve(
        self, scopes: list[Any], base: float, unit: float, units: int, *, final: bool = True
    ) -> tuple[Any, int]: ...

    async def settle(self, hold: Any, cost_micros: int) -> None: ...

    async def release(self, hold: Any) -> None: ...


def cost_micros(model: ModelConfig | None, usage: Usage) -> tuple[int, int]:
    """(input, output) cost in micro-dollars: USD per million tokens = micro-dollars per token."""
    if model is None:
        return 0, 0
    return (
        round(usage.prompt_tokens * model.input_cost_per_mtok),
        round(usage.completion_tokens * model.output_cost_per_mtok),
    )


def prompt_text(req: ChatRequest) -> str:
    """Everything the model reads, as text, for counting prompt tokens ourselves."""
    parts: list[str] = []
    for m in req.messages:
        parts.extend(p.text for p in m.content if isinstance(p, TextPart))
        parts.extend(f"{c.name} {c.arguments}" for c in m.tool_calls)
    for tool in req.tools:
        parts.append(json.dumps({"name": tool.name, "description": tool.description}))
        parts.append(json.dumps(tool.parameters))
    return "\n".join(parts)


class Completion:
    """Created when a completion request arrives; finished exactly once, success or error."""

    def __init__(
        self,
        sink: UsageSink | None,
        principal: Principal,
        model_name: str,
        *,
        stream: bool,
        session_id: str | None = None,
    ) -> None:
        self.sink = sink
        self.principal = principal
        self.model_name = model_name[:200]
        self.stream = stream
        self.session_id = session_id
        self.started = time.perf_counter()
        self.model: ModelConfig | None = None  # the model that answered (or was asked)
        self.deployment: str | None = None  # which of its deployments (a metrics label)
        self.quota: Quota | None = None
        self.reservation: Any = None
        self.budgets: Budgets | None = None
        self.hold: Any = None
        self.done = False
        self.images = 0  # generated images, priced at the model's image_cost each

    async def reserve(self, quota: Quota | None, estimated_tokens: int) -> None:
        if quota is not None:
            # Not cancelled half-way: a reservation made must be known here, to be given back.
            with anyio.CancelScope(shield=True):
                self.reservation = await quota.reserve(self.principal, estimated_tokens)
            self.quota = quota

    async def try_reserve(self, quota: Quota, estimated_tokens: int) -> bool:
        with anyio.CancelScope(shield=True):
            reservation = await quota.try_reserve(self.principal, estimated_tokens)
        if reservation is None:
            return False
        self.reservation, self.quota = reservation, quota
        return True

    async def hold_budget(
        self,
        budgets: Budgets,
        scopes: list[Any],
        base: float,
        unit: float = 0.0,
        units: int = 0,
        *,
        final: bool = True,
    ) -> int:
        """Hold the worst-case cost on every budget in `scopes`; the output tokens granted."""
        with anyio.CancelScope(shield=True):
            self.hold, granted = await budgets.reserve(scopes, base, unit, units, final=final)
        self.budgets = budgets
        return granted

    async def drop_budget(self) -> None:
        """Give the hold back before holding again (with an exact prompt count)."""
        if self.budgets is not None:
            with anyio.CancelScope(shield=True):
                await self.budgets.release(self.hold)
            self.budgets = self.hold = None

    async def succeed(
        self, usage: Usage, request_id: str | None = None, *, images: int = 0
    ) -> None:
        self.images = images
        await self._finish(usage, "success", 200, None, request_id)

    async def fail(
        self, status: int, message: str, usage: Usage | None = None, request_id: str | None = None
    ) -> None:
        await self._finish(usage or Usage(), "error", status, message, request_id)

    async def _finish(
        self,
        usage: Usage,
        status: str,
        http_status: int,
        error: str | None,
        request_id: str | None,
    ) -> None:
        if self.done:
            return
        self.done = True
        costs = self._costs(usage)
        self._record(usage, costs, status, http_status, error, request_id)
        # Runs on a disconnected client's cancelled stream too: quota and budgets must settle.
        with anyio.CancelScope(shield=True):
            if self.quota is not None:
                if usage.total_tokens:
                    await self.quota.settle(self.reservation, usage.total_tokens)
                else:
                    await self.quota.release(self.reservation)
            if self.budgets is not None:
                await self.budgets.settle(self.hold, sum(costs))

    def _costs(self, usage: Usage) -> tuple[int, int, int]:
        """(input, output, images) in micro-dollars."""
        input_cost, output_cost = cost_micros(self.model, usage)
        image_cost = round(self.images * self.model.image_cost * 1_000_000) if self.model else 0
        return input_cost, output_cost, image_cost

    def _record(
        self,
        usage: Usage,
        costs: tuple[int, int, int],
        status: str,
        http_status: int,
        error: str | None,
        request_id: str | None,
    ) -> None:
        if self.sink is None:
            return
        input_cost, output_cost, image_cost = costs
        api_key = self.principal.api_key
        self.sink.add(
            {
                "id": new_id(),
                "created_at": utcnow(),
                "user_id": self.principal.user.id,
                "api_key_id": getattr(api_key, "id", None) if api_key is not None else None,
                "org_id": self.principal.org_id,
                "session_id": self.session_id[:32] if self.session_id else None,
                "request_id": request_id[:64] if request_id else None,
                "model": self.model.id if self.model else self.model_name,
                "provider": self.model.provider if self.model else None,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "input_cost_micros": input_cost,
                "output_cost_micros": output_cost,
                "image_cost_micros": image_cost,
                "images": self.images,
                "latency_ms": int((time.perf_counter() - self.started) * 1000),
                "status": status,
                "http_status": http_status,
                "error": error[:2000] if error else None,
                "stream": self.stream,
                "deployment": self.deployment,  # for the metrics, not a column
            }
        )
