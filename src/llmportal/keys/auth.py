"""Bearer authentication with an API key; installed as portal.services["key_authenticator"]."""

from __future__ import annotations

import ipaddress
from contextlib import nullcontext
from functools import lru_cache

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.db import transaction
from llmportal.deps import Principal, unauthorized
from llmportal.errors import PortalError
from llmportal.keys.cache import Found, KeyCache, generation
from llmportal.keys.models import ApiKey
from llmportal.keys.secrets import is_well_formed
from llmportal.orgs.models import Organization
from llmportal.portal import Portal
from llmportal.ratelimit_headers import remember_decision
from llmportal.security.clientip import Network, client_ip
from llmportal.security.tokens import keyed_hash
from llmportal.users.models import User

RPM_WINDOW_S = 60.0


@lru_cache(maxsize=4096)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def ip_allowed(ip: str, whitelist: list[str] | None) -> bool:
    if not whitelist:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in _networks(tuple(whitelist)))


def rpm_bucket(key_id: str) -> str:
    return f"key-rpm:{key_id}"


async def _lookup(db: AsyncSession, digest: str) -> Found | None:
    found = (
        await db.execute(
            select(ApiKey, User, Organization)
            .join(User, User.id == ApiKey.user_id)
            .outerjoin(Organization, Organization.id == ApiKey.org_id)
            .where(ApiKey.secret_hash == digest)
        )
    ).first()
    return None if found is None else (found[0], found[1], found[2])


async def authenticate_key(
    request: Request, token: str, db: AsyncSession | None, portal: Portal
) -> Principal:
    # Shape and checksum first: a made-up or mistyped key never reaches the database.
    if not is_well_formed(token):
        raise unauthorized("Invalid API key")
    digest = keyed_hash(portal.secret_key, token)
    cache: KeyCache | None = portal.services.get("key_cache")
    row = None
    if cache is not None:
        row = cache.get(digest) or await cache.after_lookup(digest)
    if row is None:
        seen = generation()
        with cache.looking_up(digest) if cache is not None else nullcontext():
            if db is None:
                async with transaction(portal.sessionmaker) as own:
                    row = await _lookup(own, digest)
            else:
                row = await _lookup(db, digest)
            if row is None:
                raise unauthorized("Invalid API key")
            if cache is not None:
                cache.put(digest, row[0], row[1], row[2], seen)
    key, user, org = row
    if key.status == "REVOKED":
        raise unauthorized("API key revoked")
    if key.is_expired():
        raise unauthorized("API key expired")
    if user.status != "ACTIVE":
        raise PortalError(403, "Account suspended")
    if key.ip_whitelist:
        ip = client_ip(request, portal.trusted_proxies)
        if not ip_allowed(ip, key.ip_whitelist):
            raise PortalError(403, f"Requests from {ip} are not allowed for this API key")
    if key.rpm_limit:
        decision = await portal.limiter.hit(rpm_bucket(key.id), key.rpm_limit, RPM_WINDOW_S)
        remember_decision(request, decision)
        if not decision.allowed:
            raise PortalError(429, "Rate limit exceeded", headers=decision.headers())
    tracker = portal.services.get("key_last_used")
    if tracker is not None:
        tracker.touch(key.id)
    return Principal(user=user, api_key=key, org=org)
