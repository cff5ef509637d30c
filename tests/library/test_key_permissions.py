"""A key without the `library` permission: 403 on /api/stuff*, /api/collections*, /api/canvas*.

The routes depend on deps.require_permission("library"); the keys domain (another branch) makes
the keys. Once merged, create a key with permissions=["chat"] and un-skip these.
"""

from __future__ import annotations

import pytest

LIBRARY_PATHS = [
    ("GET", "/api/stuff"),
    ("POST", "/api/stuff"),
    ("GET", "/api/stuff/stats"),
    ("POST", "/api/stuff/upload"),
    ("GET", "/api/stuff/download/u/f.png"),
    ("GET", "/api/collections"),
    ("POST", "/api/collections/x/items"),
    ("GET", "/api/canvas/s1"),
    ("PUT", "/api/canvas/s1"),
    ("POST", "/api/canvas/s1/versions"),
]


@pytest.mark.skip(reason="needs API keys (merge)")
@pytest.mark.parametrize(("method", "path"), LIBRARY_PATHS)
async def test_todo_key_without_library_permission_is_403(method: str, path: str) -> None:
    raise AssertionError("TODO after merge: a key with permissions=['chat'] gets 403 here")


@pytest.mark.skip(reason="needs API keys (merge)")
async def test_todo_key_with_library_permission_is_allowed() -> None:
    raise AssertionError("TODO after merge: a key with permissions=['library'] lists /api/stuff")
