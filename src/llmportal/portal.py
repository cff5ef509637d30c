"""The running portal's shared parts, built once at start-up and kept on app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from llmportal.config import Settings
from llmportal.ratelimit import Limiter, MemoryLimiter, RedisLimiter
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
    # Domain services attach here at start-up (gateway, usage writer, mailer, ...).
    services: dict[str, Any] = field(default_factory=dict)


def build_portal(settings: Settings) -> Portal:
    from llmportal.db import create_engine, make_sessionmaker

    engine = create_engine(settings.database_url)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    limiter: Limiter = (
        RedisLimiter(redis, settings.redis_prefix + "rl:") if redis is not None else MemoryLimiter()
    )
    return Portal(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        secret_key=settings.resolved_secret_key(),
        limiter=limiter,
        redis=redis,
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )


async def close_portal(portal: Portal) -> None:
    await portal.limiter.close()
    if portal.redis is not None:
        await portal.redis.aclose()
    await portal.engine.dispose()
