"""Live health of the configured providers, probed lazily and cached for 30 seconds.

openai: GET {base_url}/models; azure: GET {base_url}/openai/models?api-version=...; anthropic:
GET {base_url}/v1/models; gemini: GET {base_url}/{version}/models; bedrock: whether its runtime
endpoint answers at all (it lists no models; the credentials are checked by the first call);
llamacpp: whether the model is loaded in its worker process. A probe never takes longer than
PROBE_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from llmportal.config import ProviderConfig

PROBE_TIMEOUT_S = 3.0
CACHE_TTL_S = 30.0


class HealthChecker:
    def __init__(self, ttl_s: float = CACHE_TTL_S, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._cache: dict[str, tuple[float, ProviderConfig, dict[str, Any]]] = {}

    async def providers(self, registry: Any) -> dict[str, dict[str, Any]]:
        """provider id -> {"status": "ok" | "error" | "idle", "checkedAt", "latencyMs", ...}"""
        ids = list(registry.providers)
        results = await asyncio.gather(*(self._one(registry.providers[i]) for i in ids))
        return dict(zip(ids, results, strict=True))

    async def _one(self, provider: Any) -> dict[str, Any]:
        cfg: ProviderConfig = provider.cfg
        cached = self._cache.get(cfg.id)
        now = time.monotonic()
        if cached is not None and cached[1] == cfg and now - cached[0] < self.ttl_s:
            return cached[2]
        result = await self._probe(provider, cfg)
        self._cache[cfg.id] = (now, cfg, result)
        return result

    async def _probe(self, provider: Any, cfg: ProviderConfig) -> dict[str, Any]:
        checked = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if cfg.type == "llamacpp":
            loaded = bool(getattr(provider, "loaded", False))
            return {"status": "ok" if loaded else "idle", "checkedAt": checked}
        url, headers, any_answer = probe_request(provider, cfg)
        started = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as client,
                client.get(url, headers=headers) as resp,
            ):
                status = resp.status
        except TimeoutError:
            return {"status": "error", "error": "timed out", "checkedAt": checked}
        except aiohttp.ClientError as exc:
            return {
                "status": "error",
                "error": f"unreachable ({type(exc).__name__})",
                "checkedAt": checked,
            }
        latency = round((time.perf_counter() - started) * 1000)
        if status >= 400 and not (any_answer and status < 500):
            return {
                "status": "error",
                "error": f"answered {status}",
                "latencyMs": latency,
                "checkedAt": checked,
            }
        return {"status": "ok", "latencyMs": latency, "checkedAt": checked}


def probe_request(provider: Any, cfg: ProviderConfig) -> tuple[str, dict[str, str], bool]:
    """The URL and headers of a cheap authenticated GET, and whether any answer below 500
    counts as up (an endpoint that has nothing to list)."""
    base = (cfg.base_url or "").rstrip("/")
    key = cfg.resolved_api_key()
    headers: dict[str, str] = dict(cfg.headers)
    if cfg.type == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
        if key:
            headers["x-api-key"] = key
        return base + "/v1/models", headers, False
    if cfg.type == "gemini":
        if key:
            headers["x-goog-api-key"] = key
        base = base or "https://generativelanguage.googleapis.com"
        return f"{base}/{cfg.api_version or 'v1beta'}/models", headers, False
    if cfg.type == "bedrock":
        return getattr(provider, "base", base), headers, True
    if cfg.type == "azure":
        headers.update({k: v for k, v in provider.headers.items() if k.lower() != "content-type"})
        return f"{base}/openai/models{provider.query}", headers, False
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return base + "/models", headers, False
