"""The running portal's shared parts, built once at start-up and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from llmportal.config import Settings
from llmportal.ratelimit import FallbackLimiter, Limiter, MemoryLimiter, RedisLimiter, RedisOutage
from llmportal.security.clientip import Network, parse_networks


@dataclass
class Portal:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    secret_key: str
    limiter: Limiter
    redis: Redis | None = None
    trusted_proxies: list[Network] = field(default_factory=list)
    # Set with Redis: while Redis is down, limits and quotas count in the process (see ratelimit).
    redis_outage: RedisOutage | None = None
    # Domain services attach here at start-up (gateway, usage writer, mailer, ...).
    services: dict[str, Any] = field(default_factory=dict)


def build_portal(settings: Settings) -> Portal:
    from llmportal.db import create_engine, make_sessionmaker

    engine = create_engine(settings.database_url)
    redis = (
        Redis.from_url(settings.redis_url, socket_connect_timeout=1.0, socket_timeout=2.0)
        if settings.redis_url
        else None
    )
    outage = RedisOutage() if redis is not None else None
    limiter: Limiter = MemoryLimiter()
    if redis is not None and outage is not None:
        limiter = FallbackLimiter(RedisLimiter(redis, settings.redis_prefix + "rl:"), outage)
    return Portal(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        secret_key=settings.resolved_secret_key(),
        limiter=limiter,
        redis=redis,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        redis_outage=outage,
    )


async def close_portal(portal: Portal) -> None:
    storage = portal.services.get("storage")
    if storage is not None:
        await storage.close()
    await portal.limiter.close()
    if portal.redis is not None:
        await portal.redis.aclose()
    await portal.engine.dispose()
