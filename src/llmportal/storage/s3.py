"""Any S3 API (AWS, MinIO, R2, ...): STORAGE_URL=s3://bucket/prefix, through aiobotocore.

Credentials come from botocore's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE and ~/.aws, an instance or task role). Uploads stream: one PutObject for a small
file, a multipart upload of PART_SIZE parts for a large one (never more than one part in
memory), aborted when the upload fails or is refused, so no part lingers in the bucket.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from llmportal.errors import PortalError
from llmportal.storage.base import ListedObject, ObjectStat, Storage
from llmportal.storage.names import CHUNK, check_key

log = logging.getLogger("llmportal.storage")

PART_SIZE = 8 * 1024 * 1024  # S3's smallest part is 5 MiB (all but the last)


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key prefix ending in "/" or empty) of s3://bucket/prefix; ValueError if bad."""
    parts = urlsplit(url)
    bucket = parts.netloc
    if parts.scheme != "s3" or not bucket or parts.query or parts.fragment:
        raise ValueError("must be a directory or s3://bucket/prefix")
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in ".-" for c in bucket):
        raise ValueError(f"'{bucket}' is not a valid S3 bucket name")
    prefix = parts.path.strip("/")
    return bucket, prefix + "/" if prefix else ""


def unavailable(exc: Exception) -> PortalError:
    log.warning("object storage error: %s", exc)
    return PortalError(503, "File storage is unavailable")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage(Storage):
    def __init__(
        self, url: str, *, endpoint_url: str | None = None, region: str | None = None
    ) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.url = url
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    config = AioConfig(
                        # A custom endpoint (MinIO, R2, moto) is addressed by path, not by
                        # a bucket subdomain; checksums only where the API requires them,
                        # which every S3-compatible server understands.
                        s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                        retries={"max_attempts": 3, "mode": "standard"},
                        connect_timeout=5,
                        read_timeout=60,
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required",
                    )
                    session = get_session()
                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(
                        session.create_client(
                            "s3",
                            endpoint_url=self.endpoint_url,
                            region_name=self.region
                            or session.get_config_variable("region")
                            or "us-east-1",
                            config=config,
                        )
                    )
                    self._stack = stack
        return self._client

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._client = self._stack = None

    def key(self, user_id: str, name: str) -> str:
        check_key(user_id, name)
        return f"{self.prefix}{user_id}/{name}"

    async def write(self, user_id: str, name: str, chunks: AsyncIterator[bytes]) -> None:
        key = self.key(user_id, name)
        client = await self.client()
        buf = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                buf += chunk
                if len(buf) >= PART_SIZE:
                    if upload_id is None:
                        started = await client.create_multipart_upload(Bucket=self.bucket, Key=key)
                        upload_id = started["UploadId"]
                    parts.append(await self._part(client, key, upload_id, len(parts) + 1, buf))
                    buf = bytearray()
            if upload_id is None:
                await client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buf))
                return
            if buf or not parts:
                parts.append(await self._part(client, key, upload_id, len(parts) + 1, buf))
            await client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            if upload_id is not None:
                with anyio.CancelScope(shield=True):
                    await self._abort(client, key, upload_id)
            if isinstance(exc, BotoCoreError | ClientError):
                raise unavailable(exc) from None
            raise

    async def _part(
        self, client: Any, key: str, upload_id: str, number: int, data: bytearray
    ) -> dict[str, Any]:
        done = await client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
        )
        return {"ETag": done["ETag"], "PartNumber": number}

    async def _abort(self, client: Any, key: str, upload_id: str) -> None:
        try:
            await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:
            log.warning(
                "could not abort the multipart upload of s3://%s/%s: %s", self.bucket, key, exc
            )

    async def delete(self, user_id: str, name: str) -> None:
        try:
            key = self.key(user_id, name)
        except PortalError:
            return
        try:
            await (await self.client()).delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            # The row is gone already (deletes run after the commit): say what to remove.
            log.error("could not delete s3://%s/%s: %s", self.bucket, key, exc)

    async def stat(self, user_id: str, name: str) -> ObjectStat | None:
        try:
            key = self.key(user_id, name)
        except PortalError:
            return None
        try:
            head = await (await self.client()).head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise unavailable(exc) from None
        except BotoCoreError as exc:
            raise unavailable(exc) from None
        return ObjectStat(
            size=int(head["ContentLength"]), modified=head["LastModified"].timestamp()
        )

    async def read_range(
        self, user_id: str, name: str, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self.key(user_id, name)
        if length == 0:
            return
        end = "" if length is None else str(start + length - 1)
        try:
            got = await (await self.client()).get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}"
            )
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise PortalError(404, "File not found") from None
            if _code(exc) == "InvalidRange":
                return  # at or past the end (an empty object)
            raise unavailable(exc) from None
        except BotoCoreError as exc:
            raise unavailable(exc) from None
        async with got["Body"] as body:
            try:
                async for chunk in body.iter_chunks(CHUNK):
                    yield chunk
            except (BotoCoreError, ClientError, OSError) as exc:
                raise unavailable(exc) from None

    @asynccontextmanager
    async def local_copy(self, user_id: str, name: str) -> AsyncIterator[Path]:
        with tempfile.TemporaryDirectory(prefix="llmportal-") as tmp:
            path = Path(tmp) / name
            async with await anyio.open_file(path, "wb") as fh:
                async for chunk in self.read_range(user_id, name):
                    await fh.write(chunk)
            yield path

    async def list_objects(self) -> AsyncIterator[ListedObject]:
        pages = (await self.client()).get_paginator("list_objects_v2")
        async for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for entry in page.get("Contents", []):
                user_id, _, name = entry["Key"][len(self.prefix) :].partition("/")
                yield ListedObject(user_id, name, int(entry["Size"]))
