"""`llmportal storage migrate --to s3://...`: a directory store copied to a bucket, counted,
idempotent; the files uploaded before it download from the bucket afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from llmportal.app import create_app
from tests.chat.helpers import PNG
from tests.conftest import BASE_URL, clear_state, make_settings
from tests.fixtures import factories
from tests.fixtures.portal_process import SRC
from tests.fixtures.s3 import AWS_ENV, S3Server


def storage_cli(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMPORTAL_", "AWS_"))}
    env.update(AWS_ENV)
    env["PYTHONPATH"] = str(SRC)
    env.update({f"LLMPORTAL_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "llmportal", "storage", "migrate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_copies_counts_and_is_idempotent(tmp_path: Path, s3_server: S3Server) -> None:
    files = tmp_path / "files"
    (files / "u1").mkdir(parents=True)
    (files / "u2").mkdir()
    (files / "u1" / "aaaa.txt").write_bytes(b"one")
    (files / "u1" / "bbbb.png").write_bytes(PNG)
    (files / "u2" / "cccc").write_bytes(b"\0" * 10_000)
    (files / "u2" / "dddd.txt.part").write_bytes(b"an upload cut short")  # never copied
    bucket = s3_server.new_bucket()
    target = f"s3://{bucket}/portal"
    kw = {"storage_dir": str(files), "s3_endpoint_url": s3_server.url}

    done = storage_cli("--to", target, **kw)
    assert done.returncode == 0, done.stderr
    assert f"{files} -> {target}: copied 3 ({3 + len(PNG) + 10_000} bytes)" in done.stdout
    assert "0 already there, 0 failed" in done.stdout
    assert f"LLMPORTAL_STORAGE_URL={target}" in done.stdout
    assert s3_server.keys(bucket) == ["portal/u1/aaaa.txt", "portal/u1/bbbb.png", "portal/u2/cccc"]
    body = s3_server.client().get_object(Bucket=bucket, Key="portal/u1/bbbb.png")["Body"].read()
    assert body == PNG

    (files / "u1" / "eeee.md").write_bytes(b"# new")
    again = storage_cli("--to", target, **kw)
    assert again.returncode == 0, again.stderr
    assert "copied 1 (5 bytes), 3 already there, 0 failed" in again.stdout


def test_migrate_refuses_bad_targets_with_one_line(tmp_path: Path, s3_server: S3Server) -> None:
    (tmp_path / "files").mkdir()
    kw = {"storage_dir": str(tmp_path / "files"), "s3_endpoint_url": s3_server.url}
    bad = storage_cli("--to", "ftp://host/x", **kw)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("llmportal: invalid --to ftp://host/x:")
    assert "Traceback" not in bad.stderr
    same = storage_cli("--to", str(tmp_path / "files"), **kw)
    assert (same.returncode, same.stderr.strip()) == (
        2,
        "llmportal: invalid --to: it is the store being copied",
    )
    missing = storage_cli("--to", "s3://bucket/p", storage_dir=str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "is not a directory" in missing.stderr


async def test_files_uploaded_before_the_migration_download_from_the_bucket(
    database_url: str, tmp_path: Path, s3_server: S3Server, aws_env: None
) -> None:
    on_disk = make_settings(database_url, tmp_path / "disk")
    application = create_app(on_disk)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50070))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            user = await factories.create_user(application.state.portal)
            await factories.login(c, user.email)
            file = (await c.post("/api/files/upload", files={"file": ("a.txt", b"kept")})).json()
            item = (await c.post("/api/stuff/upload", files={"file": ("p.png", PNG)})).json()

    bucket = s3_server.new_bucket()
    done = storage_cli(
        "--to",
        f"s3://{bucket}/p",
        storage_dir=on_disk.storage_dir,
        s3_endpoint_url=s3_server.url,
    )
    assert done.returncode == 0, done.stderr
    assert "copied 2" in done.stdout

    on_s3 = make_settings(
        database_url,
        tmp_path / "other",
        storage_url=f"s3://{bucket}/p",
        s3_endpoint_url=s3_server.url,
    )
    application = create_app(on_s3)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50071))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            await factories.login(c, user.email)
            assert (await c.get(file["url"])).content == b"kept"
            assert (await c.get(item["url"])).content == PNG
        await clear_state(application.state.portal)
