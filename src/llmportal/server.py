"""Serving: migrate, then uvicorn (one process, or N workers sharing the same config)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import uvicorn
from fastapi import FastAPI

from llmportal.config import Settings, load_settings
from llmportal.errors import PortalError
from llmportal.logs import configure_logging
from llmportal.migrate import URL_ENV


def app_factory() -> FastAPI:
    """Used by uvicorn workers: each loads the same configuration from the environment."""
    from llmportal.app import create_app

    settings = load_settings()
    configure_logging(settings.log_format)
    return create_app(settings)


def upgrade(url: str) -> None:
    """Migrate in a child process: Alembic, the migration scripts and what running them
    allocated would otherwise stay in the memory of the process that goes on to serve (~8 MB)."""
    env = {**os.environ, URL_ENV: url}
    done = subprocess.run([sys.executable, "-m", "llmportal.migrate"], env=env, check=False)
    if done.returncode != 0:
        raise PortalError(500, "the database could not be migrated")


def serve(settings: Settings, workers: int = 1) -> None:
    configure_logging(settings.log_format)
    upgrade(settings.database_url)
    if settings.config:
        os.environ["LLMPORTAL_CONFIG"] = settings.config
    # Pin what was resolved so every worker agrees (the generated secret above all).
    os.environ.setdefault("LLMPORTAL_SECRET_KEY", settings.resolved_secret_key())
    metrics_dir = _multiprocess_metrics_dir() if workers > 1 else None
    try:
        _run(settings, workers)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics_dir() -> str | None:
    """Workers keep their metrics in files in one directory, which GET /metrics sums (the
    workers are fresh processes, so they see the variable before prometheus_client loads).
    A directory the operator set is used as it is: it must be emptied before each start."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="llmportal-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _run(settings: Settings, workers: int) -> None:
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
