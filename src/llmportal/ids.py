"""Collision-resistant, sortable ids in the reference's "clx..." style (cuid-like)."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def new_id() -> str:
    """'c' + 9 chars of milliseconds + 15 random chars: 25 chars, sortable by creation."""
    millis = int(time.time() * 1000)
    return "c" + _base36(millis, 9) + "".join(secrets.choice(_ALPHABET) for _ in range(15))
