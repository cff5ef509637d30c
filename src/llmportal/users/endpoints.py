from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from llmportal.deps import CurrentUser
from llmportal.users.schemas import profile

router = APIRouter(prefix="/api/user", tags=["user"])


@router.get("/profile")
async def get_profile(user: CurrentUser) -> dict[str, Any]:
    return profile(user)
