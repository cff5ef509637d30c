"""TOTP two-factor authentication: setup, enabling with backup codes, checking codes, disabling."""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import time
from typing import Any

import pyotp
import segno
from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth.models import BackupCode
from llmportal.db import utcnow
from llmportal.errors import PortalError
from llmportal.security.passwords import verify_password
from llmportal.security.sealing import seal, unseal
from llmportal.security.tokens import keyed_hash
from llmportal.users.models import User

ISSUER = "LLMPortal"
STEP_S = 30
DRIFT_STEPS = 1
BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)
_TOTP_RE = re.compile(r"^\d{6}$")
_SEAL_PURPOSE = "totp"


def clock() -> float:
    """Seconds since the epoch; tests replace this to move through TOTP steps."""
    return time.time()


def _normalize(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _backup_hash(secret_key: str, code: str) -> str:
    return keyed_hash(secret_key, "backup:" + _normalize(code))


def new_backup_code() -> str:
    raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


async def setup(db: AsyncSession, secret_key: str, user: User) -> dict[str, Any]:
    """A fresh secret, pending until a code from it is verified."""
    if user.totp_enabled:
        raise PortalError(409, "Two-factor authentication is already enabled")
    secret = pyotp.random_base32()
    user.totp_secret = seal(secret_key, _SEAL_PURPOSE, secret)
    user.totp_last_step = None
    await db.flush()
    url = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    return {
        "secret": secret,
        "qrCode": segno.make(url, error="m").png_data_uri(scale=5, border=2),
        "otpauthUrl": url,
    }


async def _claim_totp(db: AsyncSession, secret_key: str, user: User, token: str) -> bool:
    """True when `token` is the TOTP of a step within the drift and after the last one used."""
    if not user.totp_secret or not _TOTP_RE.match(token):
        return False
    secret = unseal(secret_key, _SEAL_PURPOSE, user.totp_secret)
    if secret is None:
        return False
    totp = pyotp.TOTP(secret)
    now_step = int(clock()) // STEP_S
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), token):
            # Conditional update: the same code raced from two requests is accepted once.
            claimed = await db.execute(
                update(User)
                .where(
                    User.id == user.id,
                    or_(User.totp_last_step.is_(None), User.totp_last_step < step),
                )
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            user.totp_last_step = step
            return True
    return False


async def _claim_backup_code(db: AsyncSession, secret_key: str, user: User, code: str) -> bool:
    claimed = await db.execute(
        update(BackupCode)
        .where(
            BackupCode.user_id == user.id,
            BackupCode.code_hash == _backup_hash(secret_key, code),
            BackupCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1  # type: ignore[attr-defined]


async def check_code(db: AsyncSession, secret_key: str, user: User, code: str) -> bool:
    """A TOTP token or an unused backup code; either is spent by a successful check."""
    code = _normalize(code)
    if not code:
        return False
    if _TOTP_RE.match(code):
        return await _claim_totp(db, secret_key, user, code)
    return await _claim_backup_code(db, secret_key, user, code)


async def enable(db: AsyncSession, secret_key: str, user: User, token: str) -> list[str]:
    """Turn 2FA on once a TOTP from the pending secret checks out; returns the backup codes."""
    if user.totp_enabled:
        raise PortalError(409, "Two-factor authentication is already enabled")
    if not user.totp_secret:
        raise PortalError(400, "Start two-factor setup first (POST /api/auth/2fa/setup)")
    if not await _claim_totp(db, secret_key, user, _normalize(token)):
        raise PortalError(400, "Invalid two-factor code")
    user.totp_enabled = True
    await db.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    codes = [new_backup_code() for _ in range(BACKUP_CODE_COUNT)]
    db.add_all(BackupCode(user_id=user.id, code_hash=_backup_hash(secret_key, c)) for c in codes)
    await db.flush()
    return codes


async def disable(db: AsyncSession, secret_key: str, user: User, password: str, token: str) -> None:
    if not user.totp_enabled:
        raise PortalError(400, "Two-factor authentication is not enabled")
    if not await asyncio.to_thread(verify_password, user.password_hash, password):
        raise PortalError(400, "Incorrect password")
    if not await check_code(db, secret_key, user, token):
        raise PortalError(400, "Invalid two-factor code")
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    await db.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    await db.flush()
