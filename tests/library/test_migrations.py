"""The library's dialect-specific search objects, and the regeneration script that keeps them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from llmportal.migrate import alembic_config
from llmportal.portal import Portal

ROOT = Path(__file__).resolve().parents[2]


async def test_search_objects_exist_only_on_their_dialect(portal: Portal) -> None:
    async with portal.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            names = set(
                (await conn.execute(text("SELECT name FROM sqlite_master"))).scalars().all()
            )
            assert {"content_items_fts", "content_items_fts_insert"} <= names
            assert "content_items_fts_update" in names and "content_items_fts_delete" in names
        else:
            column = await conn.scalar(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'content_items' AND column_name = 'search_vector'"
                )
            )
            assert column == "tsvector"
            assert await conn.scalar(text("SELECT to_regclass('content_items_fts')")) is None
        version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
        assert version == head


def test_regenerating_0001_keeps_later_revisions(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    versions = tmp_path / "src/llmportal/migrations/versions"
    before = (versions / "0002_library_fts.py").read_text()
    kept = sorted(p.name for p in versions.glob("*.py"))
    result = subprocess.run(
        [sys.executable, str(tmp_path / "scripts/regen_initial_migration.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in versions.glob("*.py"))
    assert names == kept
    assert (versions / "0002_library_fts.py").read_text() == before
    initial = (versions / "0001_initial.py").read_text()
    assert 'revision: str = "0001"' in initial or "revision: str = '0001'" in initial
    assert "content_items" in initial and "content_items_fts" not in initial
