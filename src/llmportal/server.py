"""Serving: migrate, then uvicorn (one process, or N workers sharing the same config)."""

from __future__ import annotations

import os

import uvicorn

from llmportal.config import Settings, load_settings
from llmportal.migrate import upgrade


def app_factory():  # type: ignore[no-untyped-def]
    """Used by uvicorn workers: each loads the same configuration from the environment."""
    from llmportal.app import create_app

    return create_app(load_settings())


def serve(settings: Settings, workers: int = 1) -> None:
    upgrade(settings.database_url)
    if settings.config:
        os.environ["LLMPORTAL_CONFIG"] = settings.config
    # Pin what was resolved so every worker agrees (the generated secret above all).
    os.environ.setdefault("LLMPORTAL_SECRET_KEY", settings.resolved_secret_key())
    uvicorn.run(
        "llmportal.server:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers if workers > 1 else None,
        proxy_headers=False,
        log_level="info",
        access_log=False,
    )
