"""The completions gateway: resolve the model, check what the caller may send, reserve quota
and hold budgets, call the provider (then its fallbacks), and account for every completion
exactly once.

Built once at start-up into portal.services["gateway"]; nothing here reads configuration or
holds a database session per request.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Literal, NamedTuple, TypeVar

import anyio
import orjson

from llmportal.config import ModelConfig, Settings
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.gateway.chatlink import ChatLink, Reply, ReplyCollector
from llmportal.gateway.formats import anthropic, detect, embeddings, images, openai, responses
from llmportal.gateway.librarylink import ImageLibrary
from llmportal.gateway.metering import Completion, Quota, UsageSink, prompt_text
from llmportal.gateway.providers.base import UpstreamError
from llmportal.gateway.providers.http import UpstreamRejected
from llmportal.gateway.registry import Registry
from llmportal.gateway.routing.router import Lease, Router
from llmportal.gateway.spending import Spending, budgets_in_scope, input_bound
from llmportal.gateway.tokens import TokenCounter
from llmportal.gateway.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    Embeddings,
    FormatError,
    ImageRequest,
    Images,
    ReasoningDelta,
    Start,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageEvent,
)
from llmportal.metrics import instruments as metrics
from llmportal.model_allowlist import allowed

log = logging.getLogger("llmportal.gateway")

Format = Literal["openai", "anthropic", "responses"]
FORMATS: dict[str, Any] = {"openai": openai, "anthropic": anthropic, "responses": responses}
CLIENT_DISCONNECTED = 499  # nginx's "client closed request": recorded, never sent
# How a client that went away (its request cancelled) is recorded, whenever it went.
DISCONNECTED = (CLIENT_DISCONNECTED, "Client disconnected")
T = TypeVar("T")
R = TypeVar("R", EmbeddingRequest, ImageRequest)


@contextlib.asynccontextmanager
async def recorded(done: Completion) -> AsyncIterator[None]:
    """A failure in the block is the completion's one usage record: a PortalError as it is,
    an upstream failure as its 502/504 (raised on as a PortalError), a client gone as 499,
    anything else as 500."""
    try:
        yield
    except PortalError as exc:
        await done.fail(exc.status, exc.message)
        raise
    except UpstreamError as exc:
        await done.fail(exc.status, exc.message)
        retry = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry)} if retry else None
        raise PortalError(exc.status, exc.message, headers=headers) from exc
    except asyncio.CancelledError:
        await done.fail(*DISCONNECTED)
        raise
    except BaseException as exc:
        await done.fail(500, f"Gateway error: {type(exc).__name__}")
        raise


def check_model_allowed(principal: Principal, model: str) -> None:
    """The model id the client asked for against the caller's allow-lists: checked before
    anything is reserved, called or recorded."""
    if not principal.may_use_model(model):
        key_list = getattr(principal.api_key, "models", None)
        if principal.org is not None and allowed(model, key_list):
            raise PortalError(403, f"Model '{model}' is not allowed for this organization")
        raise PortalError(403, f"Model '{model}' is not allowed for this API key")


class Parsed(NamedTuple):
    format: Format  # the format to answer in
    request: ChatRequest
    stream_usage: bool  # an OpenAI client asked for the usage chunk (stream_options)
    echo: dict[str, Any] | None = None  # Responses: the request fields its answer repeats


class GatewayService:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        sink: UsageSink | None,
        services: dict[str, Any],
        router: Router | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.router = router or Router()
        self.sink = sink
        self.services = services  # the portal's: "quota" may be registered after us
        self.counter = TokenCounter(settings.catalog)
        self.created = int(time.time())  # the models' "created" in GET /v1/models
        # The registry is replaced by a config reload: the spending side asks for it each time.
        self.spending = Spending(
            settings, self.count_tokens, lambda model: self.registry.candidates(model)
        )

    @classmethod
    def build(
        cls,
        settings: Settings,
        sink: UsageSink | None,
        services: dict[str, Any],
        router: Router | None = None,
    ) -> GatewayService:
        registry = Registry(settings.catalog, settings.default_max_tokens)
        return cls(settings, registry, sink, services, router)

    def models(self, principal: Principal | None = None) -> list[ModelConfig]:
        """The configured models; with a principal, only those its allow-lists let it use."""
        models = self.registry.models.values()
        if principal is None:
            return list(models)
        return [m for m in models if principal.may_use_model(m.id)]

    async def warm_up(self) -> None:
        """Load the in-process model(s) ahead of the first request; a failure is logged here
        and reported to the request that needs the model."""
        try:
            await self.registry.warm_up()
        except Exception:
            log.exception("loading the local model failed")

    async def close(self) -> None:
        await self.registry.close()

    async def count_tokens(self, model_id: str | None, text: str) -> int:
        return await asyncio.to_thread(self.counter.count, model_id, text)

    # -- parsing -------------------------------------------------------------------------

    async def _body(self, principal: Principal | None, raw: bytes) -> dict[str, Any]:
        """The JSON object of a request body; anything else is a 400, recorded when a
        principal is given (a call that would have reached a model)."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            message = "Request body must be a JSON object"
            if principal is not None:
                await self._reject({}, principal, 400, message)
            raise PortalError(400, message)
        return body

    async def parse(self, principal: Principal, raw: bytes, fmt: Format | None = None) -> Parsed:
        """The request body -> the request and how to answer it. A body that does not parse is
        a 400 naming the field, and is recorded as a failed completion."""
        body = await self._body(principal, raw)
        chosen: Format = fmt or detect.detect_format(body)
        try:
            req: ChatRequest = FORMATS[chosen].parse_request(body)
        except FormatError as exc:
            await self._reject(body, principal, 400, str(exc))
            raise PortalError(400, str(exc)) from exc
        check_model_allowed(principal, req.model)
        include_usage = chosen == "anthropic" or openai.wants_stream_usage(body)
        echoed = responses.echo(body) if chosen == "responses" else None
        return Parsed(chosen, req, include_usage, echoed)

    async def count_prompt(
        self, principal: Principal, raw: bytes, fmt: Format | None = None
    ) -> int:
        """The prompt tokens of a completion body, counted as the quota counts them (the
        model's tokenizer, over the messages, system prompt and tool definitions). Counting
        calls no model: nothing is recorded for usage."""
        body = await self._body(None, raw)
        chosen: Format = fmt or detect.detect_format(body)
        if chosen == "anthropic" and body.get("max_tokens") is None:
            body = {**body, "max_tokens": 1}  # a count_tokens body carries none
        try:
            req: ChatRequest = FORMATS[chosen].parse_request(body)
        except FormatError as exc:
            raise PortalError(400, str(exc)) from exc
        check_model_allowed(principal, req.model)
        model = self.registry.model(req.model)
        return await self.count_tokens(model.id, prompt_text(req))

    async def gone_before_reading(self, principal: Principal) -> None:
        """The client left before its body was read (the server then drops the body): recorded
        all the same, as 499 for a model unknown."""
        await self._reject({}, principal, *DISCONNECTED)

    async def _reject(
        self, body: dict[str, Any], principal: Principal, status: int, message: str
    ) -> None:
        model = body.get("model")
        session_id = body.get("session_id")
        await Completion(
            self.sink,
            principal,
            model if isinstance(model, str) else "",
            stream=body.get("stream") is True,
            session_id=session_id if isinstance(session_id, str) else None,
        ).fail(status, message)

    # -- completions ---------------------------------------------------------------------

    async def _begin(self, principal: Principal, req: ChatRequest) -> tuple[Completion, Any]:
        """Check and prepare everything before the model is called: the model, the chat session
        and attachments, images, the quota, the budgets. An error here is recorded and raised."""
        done = Completion(
            self.sink, principal, req.model, stream=req.stream, session_id=req.session_id
        )
        try:
            done.model = self.registry.for_mode(req.model, "chat")
            prepared = await self._prepare_chat(principal, req, done.model)
            if req.has_image:
                if not principal.has_permission("vision"):
                    raise PortalError(403, "This API key lacks the 'vision' permission")
                if not done.model.vision:
                    raise PortalError(400, f"Model '{req.model}' does not accept images")
            quota: Quota | None = self.services.get("quota")
            estimate = None
            if quota is not None:
                estimate = await self.spending.reserve_tokens(principal, req, done, quota)
            held = budgets_in_scope(self.services, principal)
            if held is not None:
                await self.spending.hold_budget(req, done, *held, estimate)
        except PortalError as exc:
            await done.fail(exc.status, exc.message)
            raise
        except asyncio.CancelledError:
            await done.fail(*DISCONNECTED)
            raise
        return done, prepared

    async def _prepare_chat(
        self, principal: Principal, req: ChatRequest, model: ModelConfig
    ) -> Any:
        if req.session_id is None and not req.attachment_ids:
            return None
        if principal.org_id is not None:
            # They would name chats and uploads of the member who created the key.
            raise PortalError(403, "An organization API key cannot use session_id or attachments")
        link: ChatLink | None = self.services.get("chat_link")
        if link is None:
            raise PortalError(400, "session_id and attachments need the chat domain")
        return await link.prepare(principal, req, model)

    async def complete(self, principal: Principal, req: ChatRequest) -> ChatResponse:
        done, prepared = await self._begin(principal, req)
        async with recorded(done):
            resp, lease = await self._first_answer(
                done, lambda provider, model: provider.complete(req, model)
            )
        resp.model = req.model
        # Answered and paid for: accounted and stored even if the client has just gone.
        with anyio.CancelScope(shield=True):
            if resp.usage.total_tokens == 0:
                resp.usage = await self._counted_usage(done, req, resp.content or "", resp)
            await lease.end(True, resp.usage)
            await done.succeed(resp.usage, resp.id)
            await self._store_chat(
                principal, req, prepared, Reply(resp.content, resp.tool_calls, resp.usage)
            )
        return resp

    async def _store_chat(
        self, principal: Principal, req: ChatRequest, prepared: Any, reply: Reply
    ) -> None:
        """Store a finished exchange in its chat session. The reply is already delivered (or
        on its way) and billed: a failure to store it is logged, not turned into an error."""
        link: ChatLink | None = self.services.get("chat_link")
        if prepared is None or link is None:
            return
        try:
            await link.store(principal, req, prepared, reply)
        except PortalError as exc:  # e.g. the session was deleted while the model answered
            log.warning("exchange not stored in session %s: %s", req.session_id, exc.message)
        except Exception:
            log.exception("storing the exchange in session %s failed", req.session_id)

    async def _first_answer(
        self, done: Completion, call: Callable[[Any, ModelConfig], Awaitable[T]]
    ) -> tuple[T, Lease]:
        """call(provider, model) on a deployment of the model, then on its other deployments,
        then on each fallback model's, while the upstream fails; a request the upstream
        rejected (400) is not tried elsewhere. The lease is ended by the caller once the
        answer is over (a stream: at its end)."""
        assert done.model is not None
        failure: UpstreamError | None = None
        for model in self._candidates(done.principal, done.model):
            tried: set[str] = set()
            while True:
                try:
                    lease = await self.router.pick(model, tried)
                except UpstreamError as exc:  # none of its deployments can take it now
                    failure = exc
                    break
                if lease is None:
                    break
                tried.add(lease.deployment.id)
                done.model = lease.model
                done.deployment = lease.deployment.id
                try:
                    result = await call(self.registry.provider(lease.model), lease.model)
                except UpstreamRejected:
                    await lease.end(True)  # the request's fault, not the deployment's
                    raise
                except UpstreamError as exc:
                    await lease.end(False)
                    failure = exc
                    log.warning("model %s on %s failed: %s", model.id, lease.key, exc)
                    continue
                except BaseException:
                    await lease.end(True)
                    raise
                lease.answered()
                return result, lease
        assert failure is not None
        raise failure

    def _candidates(self, principal: Principal, model: ModelConfig) -> list[ModelConfig]:
        """The model, then the fallbacks the caller may use: a fallback outside its
        allow-list is skipped, never a way around it."""
        first, *fallbacks = self.registry.candidates(model)
        return [first, *(m for m in fallbacks if principal.may_use_model(m.id))]

    async def stream(self, principal: Principal, req: ChatRequest) -> Relay:
        """Open the stream: failures before the first event raise PortalError (502/504/...);
        the returned iterator relays the rest and raises UpstreamError on a mid-stream failure.
        Close it (aclose) when done, read or not: that closes the upstream and accounts the
        completion."""
        done, prepared = await self._begin(principal, req)

        async def first_event(
            provider: Any, model: ModelConfig
        ) -> tuple[StreamEvent, AsyncIterator[StreamEvent]]:
            events = provider.stream(req, model)
            # An exception out of anext() has already finished the generator: nothing to close.
            try:
                return await anext(events), events
            except StopAsyncIteration:
                raise UpstreamError(f"Upstream '{model.provider}' sent nothing") from None

        async with recorded(done):
            (first, events), lease = await self._first_answer(done, first_event)
        metrics.observe_first_token(done.model, done.deployment, done.started)
        return await Relay.start(self._relay(principal, req, done, prepared, first, events, lease))

    async def _relay(
        self,
        principal: Principal,
        req: ChatRequest,
        done: Completion,
        prepared: Any,
        first: StreamEvent,
        events: AsyncIterator[StreamEvent],
        lease: Lease,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Relay the events and account for the stream once it ends. Only a stream that
        finished is stored in its chat session: a failed or abandoned one stores nothing."""
        text: list[str] = []
        collected = ReplyCollector()
        usage: Usage | None = None
        response_id: str | None = None
        failure: tuple[int, str] | None = DISCONNECTED
        metrics.INFLIGHT_STREAMS.inc()
        try:
            event: StreamEvent | None = first
            while event is not None:
                if isinstance(event, Start):
                    response_id = event.id
                    event.model = req.model
                elif isinstance(event, TextDelta | ReasoningDelta):
                    text.append(event.text)  # reasoning is billed as completion tokens
                elif isinstance(event, ToolCallStart):
                    text.append(event.name)
                elif isinstance(event, ToolCallDelta):
                    text.append(event.arguments)
                elif isinstance(event, UsageEvent):
                    usage = event.usage
                collected.add(event)
                yield event
                event = await anext(events, None)
                if event is None and (usage is None or usage.total_tokens == 0):
                    # The upstream reported none: the client gets the usage it is billed for.
                    event = UsageEvent(await self._counted_usage(done, req, "".join(text)))
            failure = None
        except UpstreamError as exc:
            failure = (exc.status, exc.message)
            raise
        except Exception as exc:
            failure = (500, f"Gateway error: {type(exc).__name__}")
            raise
        finally:
            # Also runs when a disconnected client's task is being cancelled: shield the
            # clean-up, or its first await would be cancelled again.
            metrics.INFLIGHT_STREAMS.dec()
            with anyio.CancelScope(shield=True):
                await events.aclose()  # type: ignore[attr-defined]
                if usage is None or usage.total_tokens == 0:
                    usage = await self._counted_usage(done, req, "".join(text))
                await lease.end(failure is None or failure == DISCONNECTED, usage)
                if failure is None:
                    await done.succeed(usage, response_id)
                    await self._store_chat(principal, req, prepared, collected.reply(usage))
                else:
                    await done.fail(failure[0], failure[1], usage, response_id)

    # -- embeddings ----------------------------------------------------------------------

    async def _parsed(
        self, principal: Principal, raw: bytes, parse: Callable[[dict[str, Any]], R]
    ) -> R:
        """parse(body); a body that does not parse is a recorded 400 naming the field."""
        body = await self._body(principal, raw)
        try:
            req = parse(body)
        except FormatError as exc:
            await self._reject(body, principal, 400, str(exc))
            raise PortalError(400, str(exc)) from exc
        check_model_allowed(principal, req.model)
        return req

    async def embed(self, principal: Principal, raw: bytes) -> tuple[EmbeddingRequest, Embeddings]:
        """An embeddings body -> its vectors, metered as prompt tokens like a completion's
        (quota reserved first, one usage row whatever happens)."""
        req = await self._parsed(principal, raw, embeddings.parse_request)
        done = Completion(self.sink, principal, req.model, stream=False)
        async with recorded(done):
            done.model = self.registry.for_mode(req.model, "embeddings")
            quota: Quota | None = self.services.get("quota")
            tokens = None
            if quota is not None:
                tokens = await self.spending.input_estimate(principal, req, quota)
                await done.reserve(quota, tokens)
            held = budgets_in_scope(self.services, principal)
            if held is not None:
                model = done.model.id
                await self.spending.hold_flat(
                    done,
                    *held,
                    tokens if tokens is not None else input_bound(req),
                    lambda: self.spending.input_tokens(model, req),
                )
            result, lease = await self._first_answer(
                done, lambda provider, model: provider.embed(req, model)
            )
        with anyio.CancelScope(shield=True):
            if result.prompt_tokens == 0:
                model_id = done.model.id if done.model else None
                result.prompt_tokens = await self.spending.input_tokens(model_id, req)
            usage = Usage(prompt_tokens=result.prompt_tokens)
            await lease.end(True, usage)
            await done.succeed(usage)
        result.model = req.model
        return req, result

    # -- images --------------------------------------------------------------------------

    async def generate_images(self, principal: Principal, raw: bytes) -> Images:
        """An Images body -> the images, each priced at the model's image_cost (the prompt's
        tokens are metered too, and reserved against the token quota first). The caller has
        the `images` permission (checked by the endpoint)."""
        req = await self._parsed(principal, raw, images.parse_request)
        done = Completion(self.sink, principal, req.model, stream=False)
        async with recorded(done):
            if req.save_to_library and not principal.has_permission("library"):
                raise PortalError(403, "This API key lacks the 'library' permission")
            done.model = self.registry.for_mode(req.model, "images")
            quota: Quota | None = self.services.get("quota")
            held = budgets_in_scope(self.services, principal)
            if quota is not None or held is not None:
                tokens = await self.count_tokens(done.model.id, req.prompt)
                if quota is not None:
                    await done.reserve(quota, tokens)
                if held is not None:
                    await self.spending.hold_flat(done, *held, tokens, images=req.n)
            result, lease = await self._first_answer(
                done, lambda provider, model: provider.generate_images(req, model)
            )
        with anyio.CancelScope(shield=True):
            if result.prompt_tokens == 0:
                model_id = done.model.id if done.model else None
                result.prompt_tokens = await self.count_tokens(model_id, req.prompt)
            usage = Usage(prompt_tokens=result.prompt_tokens)
            await lease.end(True, usage)
            await done.succeed(usage, images=len(result.images))
            if req.save_to_library:
                await self._save_images(principal, req, result)
        return result

    async def _save_images(self, principal: Principal, req: ImageRequest, result: Images) -> None:
        """Generated and paid for: a failure to keep them is logged and the images are still
        answered (without library_item_id)."""
        library: ImageLibrary | None = self.services.get("image_library")
        if library is None:
            return
        for image in result.images:
            if image.b64_json is None:
                continue
            try:
                data = base64.b64decode(image.b64_json, validate=True)
                image.library_item_id = await library.save_image(principal, data, req.prompt)
            except (PortalError, ValueError) as exc:
                log.warning("generated image not saved to the library: %s", exc)
            except Exception:
                log.exception("saving a generated image to the library failed")

    async def _counted_usage(
        self, done: Completion, req: ChatRequest, reply: str, resp: ChatResponse | None = None
    ) -> Usage:
        """The upstream reported no usage (or was cut off): count with our tokenizer."""
        model_id = done.model.id if done.model else None
        if resp is not None:
            reply += (resp.reasoning or "") + "".join(c.name + c.arguments for c in resp.tool_calls)
        prompt = await self.count_tokens(model_id, prompt_text(req))
        completion = await self.count_tokens(model_id, reply)
        return Usage(prompt_tokens=prompt, completion_tokens=completion)


class Relay(AsyncIterator[StreamEvent]):
    """A relay already started, its first event in hand. An async generator that was never
    iterated ignores aclose() and never runs its `finally`: the upstream would stay open and
    the completion unaccounted when a client goes before the first byte is sent."""

    def __init__(self, events: AsyncGenerator[StreamEvent, None], first: StreamEvent) -> None:
        self._events = events
        self._first: StreamEvent | None = first

    @classmethod
    async def start(cls, events: AsyncGenerator[StreamEvent, None]) -> Relay:
        return cls(events, await anext(events))

    async def __anext__(self) -> StreamEvent:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self._events)

    async def aclose(self) -> None:
        await self._events.aclose()
