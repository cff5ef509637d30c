"""Models with their live health, and reloading the models/providers file without a restart."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from llmportal.admin.health import HealthChecker
from llmportal.app import create_app
from llmportal.config import Catalog, ModelConfig, ProviderConfig
from llmportal.gateway.registry import Registry
from llmportal.portal import Portal
from tests.conftest import BASE_URL, clear_state, make_settings
from tests.fixtures import factories, upstreams
from tests.fixtures.backends import scale_redis_url
from tests.fixtures.in_loop_server import served_in_loop
from tests.fixtures.upstreams import FakeUpstream, free_port

fake_upstream = upstreams.fake_upstream


async def test_models_with_health(admin_client: httpx.AsyncClient) -> None:
    r = await admin_client.get("/api/admin/models")
    assert r.status_code == 200
    [model] = r.json()["models"]
    assert model["id"] == "SmolLM2-135M-Instruct" and model["provider"] == "local"
    assert model["providerType"] == "llamacpp" and model["default"] is True
    assert model["health"]["status"] in ("ok", "idle")  # loaded in this process, or not yet


def _provider(pid: str, kind: str, url: str) -> ProviderConfig:
    return ProviderConfig(id=pid, type=kind, base_url=url, api_key="sk-test")  # type: ignore[arg-type]


async def test_health_probes_upstreams_and_caches(fake_upstream: FakeUpstream) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    catalog = Catalog(
        providers=[
            _provider("up", "openai", f"{fake_upstream.url}/v1"),
            _provider("claude", "anthropic", fake_upstream.url),
            _provider("down", "openai", dead),
        ],
        models=[
            ModelConfig(id="a", provider="up"),
            ModelConfig(id="b", provider="claude"),
            ModelConfig(id="c", provider="down"),
        ],
    )
    registry = Registry(catalog, 256)
    try:
        checker = HealthChecker(timeout_s=2)
        seen = len(fake_upstream.requests)
        health = await checker.providers(registry)
        assert health["up"]["status"] == "ok" and health["claude"]["status"] == "ok"
        assert health["down"]["status"] == "error"
        assert "unreachable" in health["down"]["error"]
        probes = fake_upstream.requests[seen:]
        assert sorted(p["path"] for p in probes) == ["/v1/models", "/v1/models"]
        assert any(p["headers"].get("x-api-key") == "sk-test" for p in probes)

        await checker.providers(registry)  # within 30 s: from the cache
        assert len(fake_upstream.requests) == seen + 2
    finally:
        await registry.close()


async def test_each_provider_type_is_probed_its_own_way(fake_upstream: FakeUpstream) -> None:
    catalog = Catalog(
        providers=[
            _provider("az", "azure", fake_upstream.url),
            _provider("gm", "gemini", fake_upstream.url),
            ProviderConfig(
                id="br", type="bedrock", base_url=fake_upstream.url, aws_region="eu-west-1"
            ),
        ],
        models=[ModelConfig(id=m, provider=m) for m in ("az", "gm", "br")],
    )
    registry = Registry(catalog, 256)
    try:
        seen = len(fake_upstream.requests)
        health = await HealthChecker(timeout_s=2).providers(registry)
        assert {p: h["status"] for p, h in health.items()} == {"az": "ok", "gm": "ok", "br": "ok"}
        probes = {p["path"]: p for p in fake_upstream.requests[seen:]}
        assert probes["/openai/models"]["query"] == "api-version=2024-10-21"
        assert probes["/openai/models"]["headers"]["api-key"] == "sk-test"
        assert probes["/v1beta/models"]["headers"]["x-goog-api-key"] == "sk-test"
        assert "/" in probes  # Bedrock's runtime lists nothing: that it answers is enough
    finally:
        await registry.close()


def _toml(upstream: str, *models: str) -> str:
    text = f'[[providers]]\nid = "up"\ntype = "openai"\nbase_url = "{upstream}/v1"\n'
    for model in models:
        text += f'[[models]]\nid = "{model}"\nprovider = "up"\nupstream_model = "plain"\n'
    return text


@pytest.fixture
async def reload_app(
    database_url: str, tmp_path: Path, fake_upstream: FakeUpstream
) -> AsyncIterator[tuple[FastAPI, Path]]:
    config = tmp_path / "portal.toml"
    config.write_text(_toml(fake_upstream.url, "first-model"))
    settings = make_settings(database_url, tmp_path / "data", config=str(config))
    application = create_app(settings)
    async with LifespanManager(application):
        yield application, config
        await application.state.portal.services["usage_writer"].flush()
        await clear_state(application.state.portal)


async def test_reload_swaps_models_without_a_restart(
    reload_app: tuple[FastAPI, Path], fake_upstream: FakeUpstream
) -> None:
    application, config = reload_app
    portal: Portal = application.state.portal
    admin = await factories.create_user(portal, admin=True, plan="PRO")
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50030))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        await factories.login(c, admin.email)
        models = [m["id"] for m in (await c.get("/v1/models")).json()["data"]]
        assert models == ["first-model"]
        provider_before = portal.services["gateway"].registry.providers["up"]

        config.write_text(_toml(fake_upstream.url, "first-model", "second-model"))
        r = await c.post("/api/admin/models/reload")
        assert r.status_code == 200
        assert r.json()["success"] is True
        assert r.json()["models"] == ["first-model", "second-model"]
        models = [m["id"] for m in (await c.get("/v1/models")).json()["data"]]
        assert models == ["first-model", "second-model"]
        # An unchanged provider keeps its connection pool.
        assert portal.services["gateway"].registry.providers["up"] is provider_before
        body = {"model": "second-model", "messages": [{"role": "user", "content": "Hi"}]}
        answer = await c.post("/api/chat/completions", json=body)
        assert answer.status_code == 200, answer.text

        config.write_text("[[models]]\nid = 'x'\nprovider = 'nowhere'\n")
        bad = await c.post("/api/admin/models/reload")
        assert bad.status_code == 400
        assert "unknown provider" in bad.json()["error"]
        models = [m["id"] for m in (await c.get("/v1/models")).json()["data"]]
        assert models == ["first-model", "second-model"]  # the running catalog stays

        audit = (await c.get("/api/admin/audit", params={"action": "models.reload"})).json()
        [entry] = audit["entries"]
        assert entry["details"] == {"added": ["second-model"], "removed": []}
        assert entry["actorId"] == admin.id


async def test_a_stream_in_flight_survives_a_reload(
    reload_app: tuple[FastAPI, Path], fake_upstream: FakeUpstream
) -> None:
    """The reload replaces the stream's provider (its timeout changed) and drops its model: the
    stream goes on from the retired provider until its client is done."""
    application, config = reload_app
    portal: Portal = application.state.portal
    config.write_text(_toml(fake_upstream.url, "streamer").replace('"plain"', '"drip"'))
    admin = await factories.create_user(portal, admin=True, plan="PRO")
    body = {"model": "streamer", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    async with (
        served_in_loop(application) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c,
    ):
        await factories.login(c, admin.email)
        assert (await c.post("/api/admin/models/reload")).status_code == 200
        async with c.stream("POST", "/api/chat/completions", json=body) as r:
            assert r.status_code == 200
            lines = r.aiter_lines()
            before = [line async for line in _data(lines, 3)]
            config.write_text(
                _toml(fake_upstream.url, "other").replace(
                    'type = "openai"', 'type = "openai"\ntimeout_s = 7'
                )
            )
            reloaded = await c.post("/api/admin/models/reload")
            assert reloaded.json()["models"] == ["other"]
            after = [line async for line in _data(lines, 5)]
        assert portal.services["gateway"].registry.providers["up"].cfg.timeout_s == 7
    assert len(before) == 3
    assert all('"content":"Hello"' in line for line in after), after


async def _data(lines: AsyncIterator[str], n: int) -> AsyncIterator[str]:
    """The next `n` data lines of an event stream."""
    while n:
        line = await anext(lines)
        if line.startswith("data: "):
            n -= 1
            yield line


@pytest.mark.skipif(not scale_redis_url(), reason="needs LLMPORTAL_TEST_REDIS_URL")
async def test_with_redis_a_reload_reaches_every_process(
    database_url: str, tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    config = tmp_path / "portal.toml"
    config.write_text(_toml(fake_upstream.url, "first-model"))
    # Two processes' worth of portal on one database and one Redis, each reading the same file.
    shared = {"config": str(config), "redis_prefix": f"llmportal-test-reload-{os.getpid()}:"}
    one = create_app(make_settings(database_url, tmp_path / "one", **shared))
    two = create_app(make_settings(database_url, tmp_path / "two", **shared))
    async with LifespanManager(one), LifespanManager(two):
        admin = await factories.create_user(one.state.portal, admin=True, plan="PRO")
        try:
            clients = [
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=a, client=("127.0.0.1", 50031)),
                    base_url=BASE_URL,
                )
                for a in (one, two)
            ]
            async with clients[0] as c1, clients[1] as c2:
                await factories.login(c1, admin.email)
                await factories.login(c2, admin.email)
                config.write_text(_toml(fake_upstream.url, "first-model", "second-model"))
                r = await c1.post("/api/admin/models/reload")
                assert r.status_code == 200
                assert r.json()["otherProcessesNotified"] == 1

                models: list[str] = []
                for _ in range(100):  # the message crosses Redis: allow it a moment
                    models = [m["id"] for m in (await c2.get("/v1/models")).json()["data"]]
                    if "second-model" in models:
                        break
                    await asyncio.sleep(0.02)
                assert models == ["first-model", "second-model"]
        finally:
            await clear_state(one.state.portal)
