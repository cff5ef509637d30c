"""`serve --workers N` gives the workers a fresh multiprocess metrics directory and removes it
afterwards; one worker (or an operator's own directory) is left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmportal import server
from llmportal.config import Settings


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    runs: list[str | None] = []

    def fake_run(settings: Settings, workers: int) -> None:
        path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        assert path is None or (Path(path).is_dir() and not any(Path(path).iterdir()))
        runs.append(path)

    monkeypatch.setattr(server, "_run", fake_run)
    monkeypatch.setattr(server, "configure_logging", lambda fmt: None)
    monkeypatch.setattr(server, "upgrade", lambda url: None)
    monkeypatch.setenv("LLMPORTAL_SECRET_KEY", "x" * 32)  # restored afterwards
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return runs


def test_workers_get_a_temporary_directory(settings: Settings, seen: list[str | None]) -> None:
    server.serve(settings, workers=3)
    [path] = seen
    assert path is not None and "llmportal-metrics-" in path
    assert not Path(path).exists()  # removed when serving ends
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def test_one_worker_needs_none(settings: Settings, seen: list[str | None]) -> None:
    server.serve(settings, workers=1)
    assert seen == [None]


def test_an_operators_directory_is_kept(
    settings: Settings, seen: list[str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server.serve(settings, workers=2)
    assert seen == [str(tmp_path)]
    assert tmp_path.is_dir()
