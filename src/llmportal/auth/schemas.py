from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmportal.openapi import ResponseModel


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


def code_as_text(value: Any) -> Any:
    """Authenticator codes sent as JSON numbers: 12345 is the code "012345"."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000:
        return f"{value:06d}"
    return value


class LoginIn(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    code: str | None = Field(default=None, max_length=64)

    _code = field_validator("code", mode="before")(code_as_text)


class RegisterIn(Body):
    name: str | None = Field(default=None, max_length=200)
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class EmailIn(Body):
    email: str = Field(max_length=320)


class TokenIn(Body):
    token: str = Field(min_length=1, max_length=200)


class TwoFactorTokenIn(Body):
    token: str = Field(min_length=1, max_length=64)

    _token = field_validator("token", mode="before")(code_as_text)


class ResetPasswordIn(Body):
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=256)


class TwoFactorDisableIn(Body):
    password: str = Field(max_length=256)
    token: str = Field(min_length=1, max_length=64)

    _token = field_validator("token", mode="before")(code_as_text)


class Registered(ResponseModel):
    id: str
    name: str | None
    email: str
    requiresVerification: bool


class EmailVerified(ResponseModel):
    success: Literal[True]
    email: str
    emailVerified: Literal[True]


class Notice(ResponseModel):
    """The same answer whether or not the address has an account."""

    success: Literal[True]
    message: str


class TwoFactorSetup(ResponseModel):
    secret: str
    qrCode: str = Field(description="a data:image/png;base64 URL of the otpauth QR code")
    otpauthUrl: str


class BackupCodes(ResponseModel):
    success: Literal[True]
    backupCodes: list[str]
