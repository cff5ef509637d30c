"""Uploads and downloads of stored files.

Multipart bodies are streamed straight into storage: a file is never held whole in memory, nor
spooled to a temporary file first as Starlette's request.form() would. `receive_multipart()` /
`multipart_upload()` are the API for endpoints; `MultipartReader` is the pull-based reader
under them, for callers that want another sink for the bytes. `download_response()` serves a
stored file back as a download; `remove_after_response()` deletes stored files after commit.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_IFREG
from typing import Any

import anyio
from fastapi import BackgroundTasks
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.types import Receive, Scope, Send

from llmportal.errors import PortalError, error_response
from llmportal.portal import Portal
from llmportal.storage import LocalStorage, Storage, StoredObject, display_name, open_storage
from llmportal.storage.base import READ_WINDOW

DEFAULT_MAX_FIELDS = 20
DEFAULT_MAX_FIELD_BYTES = 64 * 1024
_MAX_HEADER_BYTES = 16 * 1024  # all headers of one part together


def storage_for(portal: Portal) -> Storage:
    """The portal's file storage, made once and shared by every domain."""
    storage: Storage | None = portal.services.get("storage")
    if storage is None:
        storage = open_storage(portal.settings)
        portal.services["storage"] = storage
    return storage


class _ObjectFile:
    """What FileResponse reads a file through (seek, read), over Storage.read_range: one
    ranged read of at most READ_WINDOW bytes at a time, for a backend with no local path."""

    def __init__(self, storage: Storage, user_id: str, name: str) -> None:
        self.storage, self.user_id, self.name = storage, user_id, name
        self.pos = 0
        self._buf = bytearray()
        self._chunks: AsyncIterator[bytes] | None = None
        self._window_end = 0

    async def seek(self, pos: int) -> None:
        await self.aclose()
        self.pos = pos

    async def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            if self._chunks is None:
                start = self.pos + len(self._buf)
                self._chunks = self.storage.read_range(self.user_id, self.name, start, READ_WINDOW)
                self._window_end = start + READ_WINDOW
            chunk = await anext(self._chunks, b"")
            if chunk:
                self._buf += chunk
                continue
            await self._close_chunks()
            if self.pos + len(self._buf) < self._window_end:
                break  # the end of the object
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.pos += len(out)
        return out

    async def _close_chunks(self) -> None:
        chunks, self._chunks = self._chunks, None
        if chunks is not None:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        self._buf.clear()
        await self._close_chunks()


class DownloadResponse(FileResponse):
    """Starlette's FileResponse, which answers a Range it refuses in plain text: this one
    answers it like every other error, {"error": ...} (400 malformed, 416 outside the file).
    Without a local path (object storage) it reads through the storage backend."""

    def __init__(self, *args: Any, remote: _ObjectFile | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote = remote

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._range_refusal(Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if self.remote is not None and "http.response.pathsend" in scope.get("extensions", {}):
            extensions = {
                k: v for k, v in scope["extensions"].items() if k != "http.response.pathsend"
            }
            scope = {**scope, "extensions": extensions}
        await super().__call__(scope, receive, send)

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[Any]:
        if self.remote is None:
            async with super()._open_file() as fh:
                yield fh
            return
        try:
            yield self.remote
        finally:
            with anyio.CancelScope(shield=True):
                await self.remote.aclose()

    def _range_refusal(self, headers: Headers) -> Response | None:
        # The same conditions and parser as FileResponse: only a Range it would refuse is.
        http_range, if_range = headers.get("range"), headers.get("if-range")
        if http_range is None or self.stat_result is None:
            return None
        if if_range is not None and not self._should_use_range(if_range):
            return None
        size = self.stat_result.st_size
        try:
            self._parse_range_header(http_range, size)
        except MalformedRangeHeader as exc:
            return error_response(400, exc.content)
        except RangeNotSatisfiable:
            unsatisfiable = {"Content-Range": f"bytes */{size}"}
            return error_response(416, "Requested range not satisfiable", unsatisfiable)
        return None


async def download_response(
    storage: Storage, user_id: str, storage_name: str, filename: str, mime_type: str
) -> FileResponse:
    """A stored file as a download: never rendered inline, never type-sniffed by the browser."""
    found = await storage.stat(user_id, storage_name)
    if found is None:
        raise PortalError(404, "File not found")
    if isinstance(storage, LocalStorage):
        path: str | Path = storage.path_for(user_id, storage_name)
        remote = None
    else:
        path, remote = storage_name, _ObjectFile(storage, user_id, storage_name)
    mtime = found.modified
    stat_result = os.stat_result((S_IFREG | 0o644, 0, 0, 1, 0, 0, found.size, mtime, mtime, mtime))
    return DownloadResponse(
        path,
        stat_result=stat_result,
        media_type=mime_type,
        filename=filename,
        content_disposition_type="attachment",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-cache",
        },
        remote=remote,
    )


def remove_after_response(
    background: BackgroundTasks, storage: Storage, files: Iterable[tuple[str, str]]
) -> None:
    """Delete stored files (user_id, storage_name) once the response is out, which is after
    the request's transaction committed: a failed commit leaves the files in place."""
    for user_id, name in files:
        background.add_task(storage.delete, user_id, name)


def malformed(detail: str = "Malformed multipart body") -> PortalError:
    return PortalError(400, detail)


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data body, or 400."""
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        raise PortalError(400, "Expected a multipart/form-data body")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise malformed("Multipart body has no valid boundary")
    return boundary


@dataclass(slots=True)
class Part:
    """One part of the body; read its bytes with `chunks()` before asking for the next part."""

    name: str
    filename: str | None  # None: a plain form field (no filename parameter)
    content_type: str | None  # as the client sent it: never trusted for the stored type
    _reader: MultipartReader = field(repr=False)
    _done: bool = False

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        while not self._done:
            kind, data = await self._reader._next_event()
            if kind == "data":
                if data:
                    yield data
            elif kind == "part_end":
                self._done = True
            else:
                raise malformed()

    async def drain(self) -> None:
        async for _ in self.chunks():
            pass

    async def read_text(self, limit: int) -> str:
        buf = bytearray()
        async for chunk in self.chunks():
            buf += chunk
            if len(buf) > limit:
                raise PortalError(400, f"Field '{self.name}' is too long")
        try:
            return buf.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PortalError(400, f"Field '{self.name}' is not valid UTF-8") from exc


class MultipartReader:
    """Pull-based reader over an ASGI body stream with python-multipart's push parser.

    Parser callbacks queue events; the queue only ever holds what one network chunk produced,
    so memory use is bounded by the chunk size, whatever the size of the files.
    """

    def __init__(self, body: AsyncIterator[bytes], boundary: bytes) -> None:
        self._body = body
        self._events: deque[tuple[str, bytes]] = deque()
        self._ended = False
        self._eof = False
        self._header_bytes = 0
        self._parser = MultipartParser(boundary, self._callbacks())

    def _callbacks(self) -> Any:
        def push(kind: str) -> Callable[[], None]:
            return lambda: self._events.append((kind, b""))

        def push_data(kind: str) -> Callable[[bytes, int, int], None]:
            def on_data(data: bytes, start: int, end: int) -> None:
                self._events.append((kind, bytes(data[start:end])))

            return on_data

        return {
            "on_part_begin": push("part_begin"),
            "on_part_data": push_data("data"),
            "on_part_end": push("part_end"),
            "on_header_field": push_data("header_field"),
            "on_header_value": push_data("header_value"),
            "on_header_end": push("header_end"),
            "on_headers_finished": push("headers_done"),
            "on_end": push("end"),
        }

    async def _next_event(self) -> tuple[str, bytes]:
        while not self._events:
            if self._eof:
                raise malformed("Multipart body ended early")
            try:
                chunk = await anext(self._body, b"")
            except ClientDisconnect as exc:
                raise PortalError(400, "Upload interrupted") from exc
            if not chunk:
                self._eof = True
                continue
            try:
                self._parser.write(chunk)
            except FormParserError as exc:
                raise malformed() from exc
        return self._events.popleft()

    async def parts(self) -> AsyncGenerator[Part, None]:
        """Each part in order; a part its consumer left unread is skipped."""
        current: Part | None = None
        while True:
            if current is not None and not current._done:
                await current.drain()
            kind, _ = await self._next_event()
            if kind == "end":
                self._ended = True
                return
            if kind != "part_begin":
                raise malformed()
            current = await self._read_part()
            yield current

    async def _read_part(self) -> Part:
        headers: dict[str, str] = {}
        name = value = b""
        while True:
            kind, data = await self._next_event()
            self._header_bytes += len(data)
            if self._header_bytes > _MAX_HEADER_BYTES:
                raise malformed("Multipart part headers are too large")
            if kind == "header_field":
                name += data
            elif kind == "header_value":
                value += data
            elif kind == "header_end":
                headers[name.decode("latin-1").lower()] = value.decode("latin-1")
                name = value = b""
            elif kind == "headers_done":
                break
            else:
                raise malformed()
        self._header_bytes = 0
        disposition, params = parse_options_header(headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise malformed("Multipart part without a form-data name")
        raw_filename = params.get(b"filename")
        return Part(
            name=params[b"name"].decode("utf-8", "replace"),
            filename=None if raw_filename is None else raw_filename.decode("utf-8", "replace"),
            content_type=headers.get("content-type"),
            _reader=self,
        )


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    field: str
    filename: str  # the client's name made safe for display (storage.display_name)
    client_type: str | None  # the part's Content-Type as sent; not trusted
    stored: StoredObject  # name in storage, size, sha256 and the sniffed mime_type

    @property
    def size(self) -> int:
        return self.stored.size

    @property
    def mime_type(self) -> str:
        return self.stored.mime_type


@dataclass(slots=True)
class MultipartUpload:
    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    async def discard(self, storage: Storage) -> None:
        """Remove every stored file of this upload (for error paths)."""
        for f in self.files:
            await storage.delete(f.stored.user_id, f.stored.name)
        self.files.clear()


async def receive_multipart(
    request: Request,
    storage: Storage,
    user_id: str,
    *,
    file_field: str,
    max_files: int,
    max_bytes: int,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> MultipartUpload:
    """Stream the files of `file_field` into storage and collect small text fields.

    400: not multipart, malformed, a file under another field, more than `max_files` files or
    `max_fields` fields, or no file in `file_field`. 413: a file over `max_bytes` (or a body
    whose Content-Length could not fit). On any error nothing stays in storage.
    """
    boundary = multipart_boundary(request.headers.get("content-type"))
    _check_declared_length(request, max_files, max_bytes, max_fields, max_field_bytes)
    upload = MultipartUpload()
    try:
        async with (
            aclosing(request.stream()) as body,
            aclosing(MultipartReader(body, boundary).parts()) as parts,
        ):
            async for part in parts:
                if part.name == file_field:
                    if len(upload.files) >= max_files:
                        raise _too_many_files(max_files)
                    received = await _store_part(part, storage, user_id, max_bytes)
                    if received is not None:
                        upload.files.append(received)
                elif part.filename is not None:
                    raise PortalError(400, f"Unexpected file field '{part.name}'")
                else:
                    if len(upload.fields) >= max_fields:
                        raise PortalError(400, "Too many form fields")
                    upload.fields[part.name] = await part.read_text(max_field_bytes)
    except BaseException:
        await upload.discard(storage)
        raise
    if not upload.files:
        raise PortalError(400, f"{file_field} is required")
    return upload


@asynccontextmanager
async def multipart_upload(
    request: Request, storage: Storage, user_id: str, **limits: Any
) -> AsyncIterator[MultipartUpload]:
    """`receive_multipart`, and the stored files removed again if the block raises."""
    upload = await receive_multipart(request, storage, user_id, **limits)
    try:
        yield upload
    except BaseException:
        await upload.discard(storage)
        raise


async def _store_part(
    part: Part, storage: Storage, user_id: str, max_bytes: int
) -> ReceivedFile | None:
    async with aclosing(part.chunks()) as chunks:
        stored = await storage.save_stream(
            user_id, chunks, filename=part.filename, max_bytes=max_bytes
        )
    if not part.filename and stored.size == 0:
        # A browser form with no file chosen sends an empty, unnamed part.
        await storage.delete(user_id, stored.name)
        return None
    return ReceivedFile(
        field=part.name,
        filename=display_name(part.filename),
        client_type=part.content_type,
        stored=stored,
    )


def _too_many_files(max_files: int) -> PortalError:
    if max_files == 1:
        return PortalError(400, "Only one file per upload")
    return PortalError(400, f"At most {max_files} files per upload")


def _check_declared_length(
    request: Request, max_files: int, max_bytes: int, max_fields: int, max_field_bytes: int
) -> None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return
    overhead = (max_files + max_fields) * (_MAX_HEADER_BYTES + 512)
    if int(declared) > max_files * max_bytes + max_fields * max_field_bytes + overhead:
        raise PortalError(413, f"Upload too large (limit {max_bytes} bytes per file)")
