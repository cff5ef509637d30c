"""requirements.lock: every package a fresh install gets, pinned.

`python scripts/lock.py write` records the running venv (made from pyproject.toml alone by
`make lock`); `python scripts/lock.py check` fails when the running venv differs from the lock
(a locked package at another version or missing; under CI also a package the lock does not
name: pyproject.toml gained a dependency without `make lock`).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements.lock"
HEADER = """\
# Every package `make run`, `make test` and .ci/run install, pinned (pip constraints).
# Written by `make lock` from a fresh venv of pyproject.toml's dependencies; change it only
# that way, and run `make test` on the result before committing it.
"""
# The venv's own tools and the project itself are not dependencies.
UNLOCKED = {"llmportal", "setuptools", "wheel"}


def norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed() -> dict[str, str]:
    found = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
    return {n: v for n, v in found.items() if n not in UNLOCKED}


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[norm(name)] = version
    return pins


def write() -> int:
    pins = installed()
    body = "".join(f"{name}=={pins[name]}\n" for name in sorted(pins))
    LOCK.write_text(HEADER + body)
    print(f"wrote {LOCK.name}: {len(pins)} packages")
    return 0


def check() -> int:
    have, want = installed(), locked()
    wrong = [
        f"{n} {have[n]} (locked {want[n]})"
        for n in sorted(have)
        if n in want and have[n] != want[n]
    ]
    unlocked = [f"{n} {have[n]}" for n in sorted(have) if n not in want]
    missing = [n for n in sorted(want) if n not in have]
    for label, items in (
        ("not as locked", wrong),
        ("not in the lock", unlocked),
        ("missing", missing),
    ):
        if items:
            print(f"requirements.lock: {label}: {', '.join(items)}", file=sys.stderr)
    # Outside CI a package installed by hand beside the lock is the developer's business.
    if wrong or missing or (unlocked and os.environ.get("CI") == "true"):
        print("run `make lock` (or rebuild .venv: `make clean`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    commands = {"write": write, "check": check}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: lock.py write|check")
    sys.exit(commands[sys.argv[1]]())
