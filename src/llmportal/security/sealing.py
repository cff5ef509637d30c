"""Secrets the portal must read back (TOTP seeds), sealed at rest with AES-256-GCM.

The key is derived from the portal's secret key, so a copy of the database alone does not give
away anyone's second factor. Values written before sealing existed are read as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1:"
_NONCE_BYTES = 12


def _key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), b"seal:" + purpose.encode(), hashlib.sha256).digest()


def seal(secret_key: str, purpose: str, plaintext: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key(secret_key, purpose)).encrypt(nonce, plaintext.encode(), purpose.encode())
    return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(secret_key: str, purpose: str, stored: str) -> str | None:
    """The plaintext, or None when the value was sealed under another key or was tampered with."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        raw = base64.urlsafe_b64decode(stored[len(_PREFIX) :])
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        opened = AESGCM(_key(secret_key, purpose)).decrypt(nonce, sealed, purpose.encode())
    except (InvalidTag, ValueError):
        return None
    return opened.decode()
