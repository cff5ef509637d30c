"""Serving: migrate, then uvicorn (one process, or N workers sharing the same config)."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from llmportal.config import Settings, load_settings
from llmportal.logs import configure_logging
from llmportal.migrate import upgrade


def app_factory() -> FastAPI:
    """Used by uvicorn workers: each loads the same configuration from the environment."""
    from llmportal.app import create_app

    settings = load_settings()
    configure_logging(settings.log_format)
    return create_app(settings)


def serve(settings: Settings, workers: int = 1) -> None:
    configure_logging(settings.log_format)
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
        log_config=None,
        access_log=False,
    )
