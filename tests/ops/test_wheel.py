"""The package as a user installs it: an sdist built from a copy of this checkout (the build hook
runs npm in web/), a wheel built from that sdist with no npm on PATH, installed with pip into a
throwaway venv, and `llmportal serve` from that venv answering the UI.

The throwaway venv reuses this venv's third-party packages through a .pth file (llama-cpp-python
would otherwise compile for minutes); llmportal itself comes only from the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.fixtures.portal_process import stop, wait_http
from tests.fixtures.upstreams import free_port

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"

pytestmark = [
    pytest.mark.skipif(
        shutil.which("npm") is None and not IN_CI,
        reason="npm is missing: the build hook needs it to build the web UI",
    ),
    pytest.mark.skipif(
        bool(os.environ.get("LLMPORTAL_TEST_DATABASE_URL")),
        reason="packaging does not depend on the database: runs in the SQLite half only",
    ),
]

SKIP_IN_COPY = {".git", "node_modules", "data", "build", "dist", "__pycache__", "results"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    skipped = {n for n in names if n in SKIP_IN_COPY or n.startswith(".venv")}
    skipped |= {n for n in names if n.endswith((".egg-info", "_cache"))}
    if Path(folder) == ROOT / "src" / "llmportal":
        skipped.add("static")  # the build hook must build it
    return skipped


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args!r} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LLMPORTAL_", "PYTHON", "VIRTUAL"))
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "checkout"
    shutil.copytree(ROOT, src, ignore=_ignore, symlinks=True)

    # What `python -m build --sdist` does: the backend pyproject names, in an env of its own.
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    backend = tmp / "backend"
    _run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(backend), *requires])
    hook = "from setuptools import build_meta as b; print(b.build_sdist('../dist'))"
    _run([sys.executable, "-c", hook], cwd=src, env=_clean_env(PYTHONPATH=str(backend)))
    [sdist] = (tmp / "dist").glob("llmportal-*.tar.gz")

    unpacked = tmp / "unpacked"
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked, filter="data")
    [sdist_dir] = unpacked.iterdir()
    no_npm = tmp / "empty-bin"
    no_npm.mkdir()
    wheels = tmp / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=sdist_dir,
        env=_clean_env(PATH=str(no_npm)),
    )
    [wheel] = wheels.glob("llmportal-*.whl")
    return {"tmp": tmp, "sdist": sdist, "wheel": wheel, "no_npm": no_npm}


def test_sdist_carries_web_sources_and_the_built_ui(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"web/package.json", "web/package-lock.json", "web/build.mjs", "setup.py"} <= names
    assert "web/src/main.js" in names
    assert "src/llmportal/static/index.html" in names
    assert not any("node_modules" in n for n in names)


def test_wheel_carries_the_built_ui_and_not_its_sources(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as whl:
        names = set(whl.namelist())
    assert "llmportal/static/index.html" in names
    assert any(re.fullmatch(r"llmportal/static/assets/main-\w+\.js", n) for n in names)
    assert any(re.fullmatch(r"llmportal/static/assets/styles-\w+\.css", n) for n in names)
    assert "llmportal/migrations/env.py" in names
    assert not any(n.startswith(("web/", "node_modules/")) for n in names)


def _site_packages_of_this_venv() -> list[str]:
    """Third-party packages only: no path that holds llmportal (the checkout's src/, an editable
    install's source). The venv itself may lie inside the checkout (.venv): its site-packages
    holds only the editable install's finder, whose .pth is not run from a .pth-added path."""
    keep = []
    for entry in sys.path:
        path = Path(entry)
        if not entry or not path.is_dir() or "site-packages" not in path.parts:
            continue
        if (path / "llmportal").exists() or path.is_relative_to(ROOT / "src"):
            continue
        keep.append(str(path))
    return keep


def test_installed_wheel_serves_the_ui_without_npm(built: dict[str, Path]) -> None:
    tmp = built["tmp"]
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps"]
        + [str(built["wheel"])],
        env=_clean_env(),
    )
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(_run([str(py), "-c", purelib]).stdout.strip())
    # Written after the install, so pip never sees this venv's (editable) llmportal.
    (site / "_reuse_deps.pth").write_text("\n".join(_site_packages_of_this_venv()) + "\n")

    env = _clean_env(PATH=f"{venv / 'bin'}:{built['no_npm']}")
    where = _run([str(py), "-c", "import llmportal; print(llmportal.__file__)"], env=env)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout

    port = free_port()
    run_dir = tmp / "run"
    run_dir.mkdir()
    env.update(
        LLMPORTAL_PORT=str(port),
        LLMPORTAL_DATABASE_URL=f"sqlite+aiosqlite:///{run_dir}/portal.db",
        LLMPORTAL_DATA_DIR=str(run_dir / "data"),
        LLMPORTAL_SECRET_KEY="wheel-test-secret-key-wheel-test-secret-key",
        LLMPORTAL_LOG_FORMAT="text",
    )
    log = run_dir / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "llmportal"), "serve"],
            cwd=run_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(base + "/health/ready", proc, log)
        home = httpx.get(base + "/")
        assert home.status_code == 200, home.text
        assert home.headers["content-type"].startswith("text/html")
        assert "<title>LLM Portal</title>" in home.text
        assert '<div id="app">' in home.text
        for link in ("/verify-email?token=abc123", "/reset-password?token=abc123"):
            page = httpx.get(base + link)
            assert page.status_code == 200, link
            assert page.text == home.text

        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', home.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        static = site / "llmportal" / "static"
        for path in assets:
            got = httpx.get(base + path)
            assert got.status_code == 200, path
            kind = "javascript" if path.endswith(".js") else "css"
            assert kind in got.headers["content-type"]
            assert got.content == (static / path.removeprefix("/")).read_bytes()
            assert len(got.content) > 1000
    finally:
        stop(proc)
