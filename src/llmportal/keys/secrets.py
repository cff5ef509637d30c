"""API key secrets: `sk-live-` + 40 random base62 characters + a 6-character CRC32 checksum.

The checksum is public (like GitHub's tokens): it lets the portal refuse a mistyped or made-up
key without touching the database, and lets secret scanners recognise real keys.
"""

from __future__ import annotations

import re
import secrets
import zlib

KEY_PREFIX = "sk-live-"
RANDOM_LENGTH = 40
CHECKSUM_LENGTH = 6
SHOWN_RANDOM_CHARS = 4
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_SHAPE = re.compile(
    rf"^{re.escape(KEY_PREFIX)}[0-9A-Za-z]{{{RANDOM_LENGTH}}}[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}$"
)


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate_secret() -> str:
    body = KEY_PREFIX + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def is_well_formed(token: str) -> bool:
    """Shape and checksum only: no database, constant work for any input."""
    if len(token) != len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH or not _SHAPE.match(token):
        return False
    body, check = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    return secrets.compare_digest(checksum(body), check)


def display_prefix(token: str) -> str:
    return token[: len(KEY_PREFIX) + SHOWN_RANDOM_CHARS]
