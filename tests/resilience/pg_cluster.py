"""A private PostgreSQL cluster in a temp dir (initdb, trust auth, a free 127.0.0.1 port), that a
test may stop and start at will: the machine's own PostgreSQL, which other runs share, is never
touched. initdb refuses to run as root, so as root the cluster runs as the `postgres` user."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.fixtures.upstreams import free_port


def _binaries() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin"):
        found = sorted(
            glob.glob(pattern), key=lambda p: [int(x) for x in p.split("/") if x.isdigit()]
        )
        for bin_dir in reversed(found):
            if (Path(bin_dir) / "initdb").exists() and (Path(bin_dir) / "pg_ctl").exists():
                return Path(bin_dir)
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the PostgreSQL restart test cannot run in CI")
    pytest.skip(f"{reason}; outside CI this is skipped")


class PgCluster:
    def __init__(self) -> None:
        bin_dir = _binaries()
        if bin_dir is None:
            _unavailable("initdb/pg_ctl not found (apt-get install -y postgresql)")
        assert bin_dir is not None
        self.bin = bin_dir
        self.as_user: list[str] = []
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="llmportal-pg-"))
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                _unavailable("running as root and there is no postgres user for initdb")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stderr}\n{log}")

    def init(self) -> None:
        self._run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            *("--no-sync", "--no-instructions"),
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
