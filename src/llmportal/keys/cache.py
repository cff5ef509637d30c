"""A short-lived in-process cache of API key lookups, so a request with a known key costs no query.

Entries hold column snapshots; every hit builds fresh detached ApiKey/User instances, exactly what
a lookup in a closed session gives, so no instance is shared between requests. Any ORM write to
api_keys or users in this process (flush of a changed instance, or an UPDATE/DELETE statement)
empties every cache at once, again after its commit. Other processes hear of the commit through
the broadcasters registered here (keys/invalidation.py, a Redis channel), awaited before the
request that committed is answered; without one, they see a change within the TTL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from llmportal.db import after_commit
from llmportal.keys.models import ApiKey
from llmportal.orgs.models import Organization
from llmportal.users.models import User

AUTH_CACHE_TTL_S = 1.0
AUTH_CACHE_MAX = 10_000
_WATCHED = (ApiKey, User, Organization)
_CHANGED = "llmportal.auth_rows_changed"
_generation = 0
# Called once after each commit that changed a watched row: tell the other instances.
broadcasters: list[Callable[[], Awaitable[None]]] = []

T = TypeVar("T", ApiKey, User, Organization)
# A key, its owner (for an org key: the member who created it) and its org, if any.
Found = tuple[ApiKey, User, Organization | None]


def _bump() -> None:
    global _generation
    _generation += 1


def invalidate_all() -> None:
    """Forget every cached lookup in this process (another instance changed a key or user)."""
    _bump()


async def _broadcast() -> None:
    for tell in list(broadcasters):
        await tell()


def _snapshot(obj: Any) -> dict[str, Any]:
    state = obj.__dict__
    return {c.key: state[c.key] for c in obj.__mapper__.column_attrs if c.key in state}


def _revive(cls: type[T], columns: dict[str, Any]) -> T:
    # Filled as a load fills an instance (no attribute events): 4x cheaper than cls(**columns).
    obj: T = cls.__mapper__.class_manager.new_instance()
    instance_state(obj).dict.update(
        {k: list(v) if isinstance(v, list) else v for k, v in columns.items()}
    )
    make_transient_to_detached(obj)
    return obj


class KeyCache:
    def __init__(self, ttl_s: float = AUTH_CACHE_TTL_S, max_entries: int = AUTH_CACHE_MAX) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[
            str, tuple[float, dict[str, Any], dict[str, Any], dict[str, Any] | None]
        ] = {}
        self._generation = _generation
        # False while changes made elsewhere might not be heard (the channel is down).
        self.trusted = True
        # Lookups under way: when an entry expires, the requests that come in while its
        # lookup runs wait for that one instead of each making its own.
        self._lookups: dict[str, asyncio.Event] = {}

    def get(self, digest: str) -> Found | None:
        if not self.trusted:
            return None
        if self._generation != _generation:
            self.clear()
            return None
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[digest]
            return None
        org = _revive(Organization, entry[3]) if entry[3] is not None else None
        return _revive(ApiKey, entry[1]), _revive(User, entry[2]), org

    async def after_lookup(self, digest: str) -> Found | None:
        """The entry once the lookup under way for `digest` is done; None when there is none
        (or it found nothing to keep: the caller looks the key up itself)."""
        running = self._lookups.get(digest)
        if running is None:
            return None
        await running.wait()
        return self.get(digest)

    @contextmanager
    def looking_up(self, digest: str) -> Iterator[None]:
        running = self._lookups.setdefault(digest, asyncio.Event())
        try:
            yield
        finally:
            if self._lookups.get(digest) is running:
                del self._lookups[digest]
            running.set()

    def put(
        self, digest: str, key: ApiKey, user: User, org: Organization | None, generation: int
    ) -> None:
        """Remember a lookup made while the generation was `generation` (a write since then
        makes the rows it read possibly stale, so it is not kept)."""
        if not self.trusted or generation != _generation or self._generation != _generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (
            time.monotonic() + self.ttl_s,
            _snapshot(key),
            _snapshot(user),
            _snapshot(org) if org is not None else None,
        )

    def clear(self) -> None:
        self._entries.clear()
        self._generation = _generation


def generation() -> int:
    return _generation


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    for objects in (session.new, session.dirty, session.deleted):
        if any(isinstance(o, _WATCHED) for o in objects):
            session.info[_CHANGED] = True
            _bump()
            return


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if (
        (state.is_update or state.is_delete)
        and not state.execution_options.get("auth_unchanged")
        and any(m.class_ in _WATCHED for m in state.all_mappers)
    ):
        state.session.info[_CHANGED] = True
        _bump()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _bump()
        if broadcasters:
            after_commit(session, _broadcast)
