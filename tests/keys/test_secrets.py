from __future__ import annotations

import re

from llmportal.keys.secrets import (
    BASE62,
    checksum,
    display_prefix,
    generate_secret,
    is_well_formed,
)


def test_secret_format() -> None:
    secret = generate_secret()
    assert re.fullmatch(r"sk-live-[0-9A-Za-z]{40}[0-9A-Za-z]{6}", secret)
    assert is_well_formed(secret)
    assert secret[-6:] == checksum(secret[:-6])
    assert display_prefix(secret) == secret[:12]


def test_secrets_are_unique() -> None:
    assert len({generate_secret() for _ in range(200)}) == 200


def test_any_single_character_change_fails_the_checksum() -> None:
    secret = generate_secret()
    start = len("sk-live-")
    for i in range(start, len(secret)):
        for ch in (
            BASE62[(BASE62.index(secret[i]) + 1) % 62],
            BASE62[(BASE62.index(secret[i]) + 31) % 62],
        ):
            changed = secret[:i] + ch + secret[i + 1 :]
            assert not is_well_formed(changed), (i, ch)


def test_malformed_inputs() -> None:
    secret = generate_secret()
    for bad in ("", "sk-live-", secret[:-1], secret + "0", " " + secret, secret.upper(), "é" * 54):
        assert not is_well_formed(bad)
