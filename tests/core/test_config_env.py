"""Settings from the environment as docs/deploy.md writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmportal.config import load_settings


def test_trusted_proxies_are_comma_separated_cidrs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMPORTAL_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8")
    settings = load_settings(None, data_dir=str(tmp_path))
    assert settings.trusted_proxies == ["127.0.0.1/32", "10.0.0.0/8"]


def test_a_bad_trusted_proxy_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMPORTAL_TRUSTED_PROXIES", "127.0.0.1/32,not-an-ip")
    with pytest.raises(Exception, match="LLMPORTAL_TRUSTED_PROXIES") as caught:
        load_settings(None, data_dir=str(tmp_path))
    assert "not-an-ip" in str(caught.value)
