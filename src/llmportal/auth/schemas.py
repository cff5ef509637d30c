from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class LoginIn(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    code: str | None = Field(default=None, max_length=64)


class RegisterIn(Body):
    name: str | None = Field(default=None, max_length=200)
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class EmailIn(Body):
    email: str = Field(max_length=320)


class TokenIn(Body):
    token: str = Field(min_length=1, max_length=200)


class ResetPasswordIn(Body):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=256)


class TwoFactorDisableIn(Body):
    password: str = Field(max_length=256)
    token: str = Field(min_length=1, max_length=64)
