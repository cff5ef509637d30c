from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class LoginIn(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    code: str | None = Field(default=None, max_length=64)
