"""Collision-resistant, sortable ids in the reference's "clx..." style (cuid-like)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_RANDOM_SPAN = 36**15


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_id() -> str:
    """'c' + 9 chars of milliseconds + 15 random chars: 25 chars, sortable by creation."""
    millis = int(time.time() * 1000)
    return "c" + _base36(millis, 9) + _base36(secrets.randbelow(_RANDOM_SPAN), 15)
