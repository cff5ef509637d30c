"""What a request may spend, held before the model is called: the token quota's reservation
(the reply's max_tokens lowered to what is left near a limit) and the USD budgets' holds, for
completions, embeddings and images. The gateway settles or releases them through Completion."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from llmportal.config import ModelConfig, Settings
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.gateway.metering import Budgets, Completion, Quota, prompt_text
from llmportal.gateway.types import ChatRequest, EmbeddingRequest

RESERVE_ATTEMPTS = 3

TokenCount = Callable[[str | None, str], Awaitable[int]]


def budgets_in_scope(
    services: dict[str, Any], principal: Principal
) -> tuple[Budgets, list[Any]] | None:
    """The budget service and the caller's budgets; None when no budget applies (no cost)."""
    budgets: Budgets | None = services.get("budgets")
    scopes = budgets.scopes(principal) if budgets is not None else None
    return (budgets, scopes) if budgets is not None and scopes else None


def input_bound(req: EmbeddingRequest) -> int:
    """A bound on the inputs' tokens: their bytes (+1 each), or the token ids given."""
    return sum(len(i) if isinstance(i, list) else len(i.encode()) + 1 for i in req.inputs)


class Spending:
    def __init__(
        self,
        settings: Settings,
        count_tokens: TokenCount,
        candidates: Callable[[ModelConfig], list[ModelConfig]],
    ) -> None:
        self.settings = settings
        self.count_tokens = count_tokens
        self.candidates = candidates  # a model and its fallbacks: the dearest prices them

    async def reserve_tokens(
        self, principal: Principal, req: ChatRequest, done: Completion, quota: Quota
    ) -> tuple[int, bool]:
        """Reserve the prompt and the most the reply may use. Under a token limit the reply
        gets what is left of it (max_tokens lowered and sent upstream, so the model cannot
        overshoot), instead of a refusal whenever the default max_tokens does not fit.

        Far from any limit the prompt is reserved at its size in bytes, a bound no tokenizer
        exceeds (+1: SentencePiece's word start), and the reply keeps max_tokens: an exact count
        could not change either. The tokenizer (~0.1 ms for a short prompt, more in its
        thread) counts the prompt only when what is left is close. The first try is one
        reservation of all of it, which fits unless a limit is near: one store round trip
        instead of two (`remaining`, then `reserve`). Returns the prompt estimate and whether
        it is an exact count."""
        wanted = req.max_tokens or self.settings.default_max_tokens
        text = prompt_text(req)
        prompt = len(text.encode()) + 1
        if await done.try_reserve(quota, prompt + wanted):
            if quota.limited(principal):
                req.max_tokens = wanted
            return prompt, False
        counted = False
        for attempt in range(RESERVE_ATTEMPTS):
            left = await quota.remaining(principal)
            if left is not None and left - prompt < wanted and not counted:
                prompt = await self.count_tokens(done.model.id if done.model else None, text)
                counted = True
            budget = wanted if left is None else max(1, min(wanted, left - prompt))
            try:
                await done.reserve(quota, prompt + budget)
            except PortalError as exc:
                # Retry only when `remaining` saw room that a concurrent request then took.
                room = left is not None and left - prompt >= 1
                if exc.status != 429 or not room or attempt == RESERVE_ATTEMPTS - 1:
                    raise
                continue
            if left is not None:
                req.max_tokens = budget
            return prompt, counted
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def hold_budget(
        self,
        req: ChatRequest,
        done: Completion,
        budgets: Budgets,
        scopes: list[Any],
        estimate: tuple[int, bool] | None,
    ) -> None:
        """Hold the worst case on every budget in scope: the prompt at the input price and
        max_tokens at the output price, both the dearest of the model and its fallbacks. Near
        a budget's end the reply gets the output tokens left (max_tokens lowered and sent
        upstream, as under a token limit); only when not even one fits is it a 429 naming the
        budget. A prompt estimated by its bytes is counted exactly before it lowers or refuses
        anything."""
        assert done.model is not None
        text: str | None = None
        if estimate is None:
            text = prompt_text(req)
            estimate = (len(text.encode()) + 1, False)
        prompt, counted = estimate
        priced = self.candidates(done.model)
        in_price = max(m.input_cost_per_mtok for m in priced)
        out_price = max(m.output_cost_per_mtok for m in priced)
        wanted = req.max_tokens or self.settings.default_max_tokens
        while True:
            granted: int | None = None
            try:
                granted = await done.hold_budget(
                    budgets, scopes, prompt * in_price, out_price, wanted, final=counted
                )
            except PortalError as exc:
                if exc.status != 429 or counted:
                    raise
            if counted or granted == wanted:
                break
            if granted is not None:
                await done.drop_budget()
            text = text if text is not None else prompt_text(req)
            prompt = await self.count_tokens(done.model.id, text)
            counted = True
        if granted is not None and granted < wanted:
            req.max_tokens = granted

    async def hold_flat(
        self,
        done: Completion,
        budgets: Budgets,
        scopes: list[Any],
        tokens: int,
        exact: Callable[[], Awaitable[int]] | None = None,
        images: int = 0,
    ) -> None:
        """Hold a cost without a reply to lower (embeddings, images): `tokens` at the dearest
        input price, images at the dearest image price; a refusal of a bound on the tokens is
        tried again with `exact()`."""
        assert done.model is not None
        priced = self.candidates(done.model)
        in_price = max(m.input_cost_per_mtok for m in priced)
        image_micros = max(m.image_cost for m in priced) * 1_000_000 * images
        try:
            await done.hold_budget(
                budgets, scopes, tokens * in_price + image_micros, final=exact is None
            )
        except PortalError as exc:
            if exc.status != 429 or exact is None:
                raise
            await done.hold_budget(budgets, scopes, await exact() * in_price + image_micros)

    async def input_estimate(
        self, principal: Principal, req: EmbeddingRequest, quota: Quota
    ) -> int:
        """A bound on the inputs' tokens (their bytes) unless that is more than is left under
        a limit: then the exact count, so that an input that fits is not refused."""
        bound = input_bound(req)
        left = await quota.remaining(principal)
        if left is None or bound <= left:
            return bound
        return await self.input_tokens(req.model, req)

    async def input_tokens(self, model_id: str | None, req: EmbeddingRequest) -> int:
        total = 0
        for item in req.inputs:
            total += (
                len(item) if isinstance(item, list) else await self.count_tokens(model_id, item)
            )
        return total
