"""create_app(): lifespan, middleware, routers, error handlers."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from llmportal.config import Settings, load_settings
from llmportal.deps import SESSION_COOKIE
from llmportal.errors import install_error_handlers
from llmportal.jsonio import FastJSONResponse
from llmportal.middleware import PortalMiddleware
from llmportal.openapi import install_openapi
from llmportal.portal import Portal, build_portal, close_portal
from llmportal.routing import direct_routes

# Each domain module exposes `router`; optional `startup(portal)` / `shutdown(portal)` hooks.
DOMAINS = [
    "llmportal.health",
    "llmportal.metrics.endpoints",
    "llmportal.auth.endpoints",
    "llmportal.users.endpoints",
    "llmportal.usage.endpoints",
    "llmportal.billing.endpoints",
    "llmportal.keys.endpoints",
    "llmportal.orgs.endpoints",
    "llmportal.orgs.key_endpoints",
    "llmportal.billing.org_endpoints",
    "llmportal.quota.service",
    "llmportal.budgets.service",
    "llmportal.usage.writer",  # before the gateway: it starts first and stops last
    "llmportal.gateway.endpoints",
    "llmportal.chat.endpoints",
    "llmportal.files.endpoints",
    "llmportal.library.endpoints",
    "llmportal.canvas.endpoints",
    "llmportal.admin.endpoints",  # after the gateway: it stops first (closes retired providers)
    "llmportal.web",  # last: the browser app answers the GETs no other route took
]

HOT_ROUTES = "llmportal.gateway.endpoints"


def _domain_modules() -> list[object]:
    return [importlib.import_module(name) for name in DOMAINS]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    modules = _domain_modules()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        portal: Portal = build_portal(settings)
        app.state.portal = portal
        started = []
        try:
            for mod in modules:
                hook = getattr(mod, "startup", None)
                if hook is not None:
                    await hook(portal)
                started.append(mod)
            yield
        finally:
            for mod in reversed(started):
                hook = getattr(mod, "shutdown", None)
                if hook is not None:
                    await hook(portal)
            await close_portal(portal)

    app = FastAPI(
        title="llmportal",
        version="0.1.0",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
        # No OpenTelemetry here (metrics are Prometheus): without this FastAPI looks up the
        # global OTel providers, environment included, on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_openapi(app)
    # The router tries routes in order: the completions, nearly all the traffic, go first
    # (their paths are fixed, so they cannot shadow another route).
    for mod in sorted(modules, key=lambda m: getattr(m, "__name__", "") != HOT_ROUTES):
        router: APIRouter | None = getattr(mod, "router", None)
        if router is not None:
            app.include_router(router)
    app.add_middleware(
        PortalMiddleware,
        public_url=settings.public_url,
        session_cookie=SESSION_COOKIE,
        direct=direct_routes(app),
        body_idle_timeout_s=settings.body_idle_timeout_s,
        body_timeout_s=settings.body_timeout_s,
    )
    return app
