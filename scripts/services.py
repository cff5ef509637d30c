"""`services.py check PG_URL REDIS_URL`: exit 0 when both answer, else name what is down."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url


async def check(pg_url: str, redis_url: str) -> list[str]:
    down = []
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 5)
        await conn.close()
    except Exception as exc:  # any failure means unreachable
        down.append(f"PostgreSQL at {pg_url}: {exc}")
    redis = Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        await redis.ping()
    except Exception as exc:
        down.append(f"Redis at {redis_url}: {exc}")
    finally:
        await redis.aclose()
    return down


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[1] != "check":
        print(__doc__, file=sys.stderr)
        return 2
    down = asyncio.run(check(sys.argv[2], sys.argv[3]))
    for line in down:
        print(f"unreachable: {line}", file=sys.stderr)
    return 1 if down else 0


if __name__ == "__main__":
    raise SystemExit(main())
