"""A key's JSON as every key endpoint answers it (personal or an org's): the stored fields, the
budget with its spend this period, and a last use not yet written (keys/last_used.py)."""

from __future__ import annotations

from typing import Any

from llmportal.budgets.scopes import KEY
from llmportal.budgets.service import budget_json
from llmportal.keys.last_used import LastUsedTracker
from llmportal.keys.models import ApiKey
from llmportal.keys.schemas import key_out
from llmportal.portal import Portal


async def key_json(portal: Portal, key: ApiKey) -> dict[str, Any]:
    tracker: LastUsedTracker | None = portal.services.get("key_last_used")
    pending = tracker.pending(key.id) if tracker else None
    budget = await budget_json(portal, KEY, key, key.user_id)
    return key_out(key, budget, last_used_at=pending)


async def key_json_with_secret(portal: Portal, key: ApiKey, secret: str) -> dict[str, Any]:
    """Right after creation or regeneration: the secret, shown this once, after id and name."""
    body = await key_json(portal, key)
    return {"id": body.pop("id"), "name": body.pop("name"), "key": secret, **body}
