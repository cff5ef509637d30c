"""What this process holds, read from /proc: file descriptors, TCP connections (the sockets
among those descriptors, grouped by the ports they talk to), asyncio tasks and threads."""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"


POOL_GROWTH = 5  # the database and Redis pools of a whole test session


@dataclass(frozen=True)
class Census:
    fds: int
    tcp: dict[str, int]  # open (non-listening) TCP sockets per group of ports, plus "other"
    tasks: int
    threads: int

    @property
    def connections(self) -> int:
        return sum(self.tcp.values())

    def within(self, baseline: Census) -> bool:
        """Nothing more open than at the baseline, but for the database and Redis pools ("other"
        sockets, or a SQLite connection's thread and file), which may open a connection or two
        more under load: that is no leak."""
        pooled = max(self.tcp.get("other", 0) - baseline.tcp.get("other", 0), 0)
        # A pooled SQLite connection is a file, not a socket: aiosqlite's thread and its fd.
        sqlite_pooled = min(max(self.threads - baseline.threads, 0), POOL_GROWTH)
        return (
            pooled <= POOL_GROWTH
            and self.fds <= baseline.fds + pooled + sqlite_pooled
            and self.connections <= baseline.connections + pooled
            and self.tasks <= baseline.tasks
        )

    def __str__(self) -> str:
        groups = ", ".join(f"{name} {n}" for name, n in self.tcp.items())
        return (
            f"fds {self.fds}, TCP {self.connections} ({groups}), "
            f"tasks {self.tasks}, threads {self.threads}"
        )


def _socket_inodes() -> set[str]:
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_sockets() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every TCP socket in this network namespace."""
    out: list[tuple[int, int, str, str]] = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            f = line.split()
            local, remote = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
            out.append((local, remote, f[3], f[9]))
    return out


def take(groups: dict[str, set[int]]) -> Census:
    """`groups`: name -> ports; a connection counts in the first group it has a port of."""
    ours = _socket_inodes()
    tcp = dict.fromkeys([*groups, "other"], 0)
    for local, remote, state, inode in _tcp_sockets():
        if inode not in ours or state == LISTEN:
            continue
        name = next((g for g, ports in groups.items() if {local, remote} & ports), "other")
        tcp[name] += 1
    return Census(
        fds=len(os.listdir("/proc/self/fd")),
        tcp=tcp,
        tasks=len(asyncio.all_tasks()),
        threads=threading.active_count(),
    )


def available() -> bool:
    return Path("/proc/self/fd").is_dir() and Path("/proc/self/net/tcp").exists()
