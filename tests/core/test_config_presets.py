"""`preset` on `openai` providers: its defaults in the configuration, and its errors as an
operator meets them (`llmportal config check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmportal.config import ConfigError, load_settings
from llmportal.gateway.providers.openai_presets import PRESETS
from tests.core.test_cli import run_cli

DEFAULTS = {
    "ollama": ("http://127.0.0.1:11434/v1", None),
    "vllm": ("http://127.0.0.1:8000/v1", None),
    "llamacpp-server": ("http://127.0.0.1:8080/v1", None),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
}


def _config(tmp_path: Path, provider: str) -> Path:
    path = tmp_path / "portal.toml"
    path.write_text(
        f'[[providers]]\nid = "up"\n{provider}\n[[models]]\nid = "m"\nprovider = "up"\n'
    )
    return path


def test_every_preset_has_its_documented_defaults() -> None:
    assert {n: (p.base_url, p.key_env) for n, p in PRESETS.items()} == DEFAULTS


@pytest.mark.parametrize("preset", DEFAULTS)
def test_a_preset_fills_base_url_and_key_env(tmp_path: Path, preset: str) -> None:
    cfg = _config(tmp_path, f'type = "openai"\npreset = "{preset}"')
    provider = load_settings(str(cfg), data_dir=str(tmp_path)).catalog.providers[0]
    assert (provider.base_url, provider.api_key_env) == DEFAULTS[preset]


def test_own_settings_win_over_the_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_GROQ", "gsk-test")
    cfg = _config(
        tmp_path,
        'type = "openai"\npreset = "groq"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = "MY_GROQ"',
    )
    provider = load_settings(str(cfg), data_dir=str(tmp_path)).catalog.providers[0]
    assert (provider.base_url, provider.resolved_api_key()) == ("http://127.0.0.1:9/v1", "gsk-test")
    cfg = _config(tmp_path, 'type = "openai"\npreset = "mistral"\napi_key = "sk-inline"')
    provider = load_settings(str(cfg), data_dir=str(tmp_path)).catalog.providers[0]
    assert (provider.api_key_env, provider.resolved_api_key()) == (None, "sk-inline")


def test_without_a_preset_base_url_is_still_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs base_url"):
        load_settings(str(_config(tmp_path, 'type = "openai"')), data_dir=str(tmp_path))


def test_config_check_names_an_unknown_preset_and_the_allowed_ones(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'type = "openai"\npreset = "grok"')
    r = run_cli("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "llmportal: invalid setting providers.0.preset: unknown preset 'grok' (one of: ollama, "
        "vllm, llamacpp-server, groq, mistral, deepseek, openrouter, together)"
    ]


def test_config_check_refuses_a_preset_on_another_type(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'type = "anthropic"\nbase_url = "http://x"\npreset = "groq"')
    r = run_cli("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert "provider 'up': preset needs type openai" in r.stderr
    assert "Traceback" not in r.stderr


def test_config_check_shows_the_preset_and_where_its_key_comes_from(tmp_path: Path) -> None:
    cfg = _config(tmp_path, 'type = "openai"\npreset = "groq"')
    r = run_cli(
        "--config", str(cfg), "config", "check", cwd=tmp_path, env={"GROQ_API_KEY": "gsk-x"}
    )
    assert r.returncode == 0, r.stderr
    assert (
        "provider up: type=openai preset=groq base_url=https://api.groq.com/openai/v1 "
        "api_key=set (from GROQ_API_KEY)"
    ) in r.stdout
    assert "gsk-x" not in r.stdout
