"""Swap the gateway's models and providers for a freshly read catalog, without a restart.

Providers whose configuration did not change are kept (their connection pools, a loaded local
model); the others are retired, not closed, because completions in flight may still use them:
they close when the portal shuts down. Applies to the process that runs it; with Redis,
admin/reload_broadcast.py carries a reload to every other process.
"""

from __future__ import annotations

from typing import Any

from llmportal.config import Catalog
from llmportal.gateway.registry import Registry
from llmportal.gateway.tokens import TokenCounter


async def reload(gateway: Any, catalog: Catalog) -> None:
    """`gateway` is the running gateway.service.GatewayService."""
    old: Registry = gateway.registry
    new = Registry(catalog, gateway.settings.default_max_tokens)
    retired: list[Any] = getattr(gateway, "retired_providers", [])
    for pid, provider in list(new.providers.items()):
        kept = old.providers.get(pid)
        if kept is not None and getattr(kept, "cfg", None) == getattr(provider, "cfg", ""):
            await provider.close()  # the fresh twin: never used
            new.providers[pid] = kept
    retired.extend(p for pid, p in old.providers.items() if new.providers.get(pid) is not p)
    gateway.retired_providers = retired
    gateway.settings.catalog = catalog
    gateway.counter = TokenCounter(catalog)
    gateway.registry = new


async def close_retired(gateway: Any) -> None:
    for provider in getattr(gateway, "retired_providers", []):
        await provider.close()
    gateway.retired_providers = []
