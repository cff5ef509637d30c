"""Who a budget belongs to. A request is held to every budget in its scopes (the strictest
one refuses first): its API key's, its user's, and (once organizations exist) its org's.

A scope kind says where its row comes from, how messages name it, and which usage_records
column attributes spend to it. Adding the org scope is one more ScopeKind in KINDS: a row with
`id`, `max_budget_micros`, `budget_period`, `budget_set_at` (the principal's org), its hash tag
(the org id) and `usage_records.org_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmportal.deps import Principal


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str  # "key" | "user" (| "org")
    owner_id: str
    tag: str  # the Redis hash tag of its tallies: scopes of one request share a cluster slot
    limit: int  # micro-dollars
    period: str | None  # daily | weekly | monthly; None: lifetime
    set_at: datetime | None  # when the budget was switched on or its period changed
    name: str  # how messages name it: "API key 'Production'", "your account"
    column: str  # the usage_records column holding owner_id
    notify: str | None = None  # where alerts go


@dataclass(frozen=True, slots=True)
class ScopeKind:
    kind: str
    row: Callable[[Principal], Any]  # the row that may carry a budget, or None
    tag: Callable[[Principal], str]
    name: Callable[[Any], str]
    column: str


def _key_name(key: Any) -> str:
    name = getattr(key, "name", None)
    return f"API key '{name}'" if name else "this API key"


KEY = ScopeKind("key", lambda p: p.api_key, lambda p: p.user.id, _key_name, "api_key_id")
USER = ScopeKind("user", lambda p: p.user, lambda p: p.user.id, lambda _: "your account", "user_id")
# The org's tallies are the org's, whichever member's key spends: tagged by the org id.
ORG = ScopeKind(
    "org",
    lambda p: p.org,
    lambda p: p.org.id if p.org is not None else p.user.id,
    lambda org: f"organization '{org.name}'",
    "org_id",
)
KINDS: list[ScopeKind] = [KEY, USER, ORG]


def scope_of(kind: ScopeKind, row: Any, tag: str, notify: str | None = None) -> Scope | None:
    """The budget `row` carries, or None when it has none."""
    limit = getattr(row, "max_budget_micros", None)
    if not limit:
        return None
    return Scope(
        kind=kind.kind,
        owner_id=row.id,
        tag=tag,
        limit=limit,
        period=row.budget_period,
        set_at=row.budget_set_at,
        name=kind.name(row),
        column=kind.column,
        notify=notify,
    )


def scopes_for(principal: Principal) -> list[Scope]:
    """The budgets this caller's requests are held to; [] (and nothing else done) when none."""
    found: list[Scope] = []
    for kind in KINDS:
        row = kind.row(principal)
        if row is not None and getattr(row, "max_budget_micros", None):
            scope = scope_of(kind, row, kind.tag(principal), principal.user.email)
            if scope is not None:
                found.append(scope)
    return found
