"""`llmportal storage migrate --to s3://bucket/prefix`: copy every stored object from one store
to another (a directory store to S3, usually). Idempotent: an object already at the target with
the same size is skipped, so a second run after a failure copies only what is missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from llmportal.errors import PortalError
from llmportal.storage.base import Storage

log = logging.getLogger("llmportal.storage")


@dataclass(slots=True)
class MigrateReport:
    copied: int = 0
    copied_bytes: int = 0
    skipped: int = 0
    failed: int = 0

    def summary(self, source: str, target: str) -> str:
        return (
            f"{source} -> {target}: copied {self.copied} ({self.copied_bytes} bytes), "
            f"{self.skipped} already there, {self.failed} failed"
        )


async def migrate(source: Storage, target: Storage) -> MigrateReport:
    report = MigrateReport()
    async for obj in source.list_objects():
        there = await target.stat(obj.user_id, obj.name)
        if there is not None and there.size == obj.size:
            report.skipped += 1
            continue
        try:
            await target.write(obj.user_id, obj.name, source.read_range(obj.user_id, obj.name))
        except PortalError as exc:
            log.error("could not copy %s/%s: %s", obj.user_id, obj.name, exc.message)
            report.failed += 1
            continue
        report.copied += 1
        report.copied_bytes += obj.size
    return report
