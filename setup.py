"""Build hooks: the wheel and the sdist carry the built web UI (web/ -> src/llmportal/static).

Everything else about the package is in pyproject.toml. `build_py` (wheels, `pip install .`)
and `sdist` run `npm ci` and `npm run build` in web/ when the built UI is missing or older than
its sources, as `make web` does. An sdist carries both web/ and the built UI, so a wheel built
from it needs no npm. LLMPORTAL_SKIP_WEB_BUILD=1 builds without the UI (`/` then answers 503).
Editable installs (`pip install -e .`, what `make` does) leave the UI to the Makefile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
STATIC_INDEX = ROOT / "src" / "llmportal" / "static" / "index.html"


def _newest_mtime(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def _web_sources() -> list[Path]:
    files = [WEB / "build.mjs", WEB / "package.json", WEB / "package-lock.json"]
    return files + [p for p in (WEB / "src").rglob("*") if p.is_file()]


def build_web() -> None:
    """Build the UI unless it is present and newer than every web source."""
    if os.environ.get("LLMPORTAL_SKIP_WEB_BUILD") == "1" or not (WEB / "package.json").is_file():
        return
    if STATIC_INDEX.is_file() and STATIC_INDEX.stat().st_mtime >= _newest_mtime(_web_sources()):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "llmportal: building the web UI (web/ -> src/llmportal/static) needs npm (Node.js 18+)."
            " Install Node.js, or build from the sdist, which carries the built UI,"
            " or set LLMPORTAL_SKIP_WEB_BUILD=1 for a package without the UI."
        )
    stamp = WEB / "node_modules" / ".package-lock.json"
    lock = [WEB / "package.json", WEB / "package-lock.json"]
    if not stamp.is_file() or stamp.stat().st_mtime < _newest_mtime(lock):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)
    if not STATIC_INDEX.is_file():
        raise SystemExit(f"llmportal: the web build did not write {STATIC_INDEX}")


class BuildPyWithWeb(build_py):
    def run(self) -> None:
        if not getattr(self, "editable_mode", False):
            build_web()
            # The package data list is computed once, lazily; drop one computed before the build.
            self.__dict__.pop("data_files", None)
        super().run()


class SdistWithWeb(sdist):
    def run(self) -> None:
        build_web()
        super().run()


setup(cmdclass={"build_py": BuildPyWithWeb, "sdist": SdistWithWeb})
