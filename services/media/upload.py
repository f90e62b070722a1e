"""Reading a multipart upload as it streams in, never whole into memory.

The file part goes to a temporary file under the data dir while its SHA-256 is computed.
Its first bytes decide its kind (`sniff`), and from then on the kind's size limit is
enforced as bytes arrive: an oversize upload is refused at the first byte too many, and
whatever was written is removed.

Who may upload depends on the `portal` field, so it is checked the moment that field has
arrived. A form that sends the file first gets at most `max_bytes_before_portal` of it
written before being refused: otherwise a non-member could fill the disk before the 403.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from services.common.i18n import Msg
from services.media.errors import BadFileName, BadUpload, FileTooLarge, PortalFieldFirst
from services.media.settings import MediaSettings
from services.media.sniff import HEAD_BYTES, FileType, sniff

FIELDS = {"portal", "caption", "credit", "alt", "focal_x", "focal_y"}
FIELD_LIMIT = 16 * 1024
FLUSH_BYTES = 1024 * 1024


@dataclass
class Upload:
    """A received file (in `path`) and the form's text fields."""

    path: Path
    filename: str | None
    size: int
    sha256: str
    found: FileType
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class _Parts:
    """python-multipart callbacks, collecting what one `write()` produced."""

    def __init__(self) -> None:
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}
        self.current: str | None = None  # field name, or "\0file" for the file
        self.filename: str | None = None
        self.file_seen = False
        self.file_chunks: list[bytes] = []
        self.fields: dict[str, bytearray] = {}
        self.ended: set[str] = set()  # fields whose part is complete
        self.error: Msg | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.headers = {}
        self.current = None

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field = self.header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("latin-1")
        if b"filename" in options:
            if name != "file" or self.file_seen:
                self.error = Msg(
                    "Chỉ gửi một tệp, trong trường 'file'.",
                    "Send exactly one file, in the 'file' field.",
                )
                return
            try:
                self.filename = options[b"filename"].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadFileName(
                    Msg("Tên tệp không phải UTF-8.", "The file name is not UTF-8.")
                ) from exc
            self.file_seen = True
            self.current = "\0file"
        elif name in FIELDS:
            if name in self.fields:
                self.error = Msg(
                    "Trường '{n}' được gửi hai lần.", "The field '{n}' is sent twice."
                ).format(n=name)
                return
            self.current = name
            self.fields[name] = bytearray()
        else:
            self.error = Msg(
                "Trường '{n}' không được hỗ trợ; dùng: file, {f}.",
                "Unknown field '{n}'; use: file, {f}.",
            ).format(n=name, f=", ".join(sorted(FIELDS)))

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current == "\0file":
            self.file_chunks.append(data[start:end])
        elif self.current is not None:
            value = self.fields[self.current]
            value += data[start:end]
            if len(value) > FIELD_LIMIT:
                self.error = Msg("Trường '{n}' quá dài.", "Field '{n}' is too long.").format(
                    n=self.current
                )

    def part_end(self) -> None:
        if self.current is not None and self.current != "\0file":
            self.ended.add(self.current)


async def receive_upload(
    request: Request,
    settings: MediaSettings,
    tmp_dir: Path,
    *,
    check_portal: Callable[[str], Awaitable[None] | None] | None = None,
) -> Upload:
    """Stream the request's multipart body to a temporary file; refuse early what can be.

    `check_portal` runs as soon as the `portal` field is complete: when it comes before the
    file (as forms usually send it), before a byte of the file is written. Until it has
    run, at most `settings.max_bytes_before_portal` of the file are accepted; past that the
    upload is refused (400 `portal-field-first`) without reading further.
    """
    kind, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadUpload(
            Msg(
                "Gửi tệp dạng multipart/form-data với trường 'file' và 'portal'.",
                "Send multipart/form-data with a 'file' and a 'portal' field.",
            )
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_any_bytes + FIELD_LIMIT * 8:
        raise _too_large(None, settings.max_any_bytes)
    parts = _Parts()
    parser = MultipartParser(boundary, parts.callbacks())  # type: ignore[arg-type]
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / f"{uuid.uuid4().hex}.upload"
    digest = hashlib.sha256()
    head = bytearray()
    found: FileType | None = None
    limit = settings.max_any_bytes
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0
    portal_checked = False
    out: IO[bytes] = await anyio.to_thread.run_sync(open, path, "wb")
    try:
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadUpload(
                    Msg("Dữ liệu multipart hỏng.", "The multipart body is malformed.")
                ) from exc
            if parts.error is not None:
                raise BadUpload(parts.error)
            if not portal_checked and "portal" in parts.ended:
                portal_checked = True
                if check_portal is not None:
                    portal = bytes(parts.fields["portal"]).decode("utf-8", "replace").strip()
                    checked = check_portal(portal)
                    if inspect.isawaitable(checked):  # a check that asks content for roles
                        await checked
            for data in parts.file_chunks:
                size += len(data)
                if not portal_checked and size > settings.max_bytes_before_portal:
                    raise _portal_first(settings.max_bytes_before_portal)
                digest.update(data)
                if found is None:
                    head += data[: HEAD_BYTES - len(head)]
                    if len(head) >= HEAD_BYTES:
                        found = sniff(bytes(head))
                        limit = settings.max_bytes(found.kind)
                if size > limit:
                    raise _too_large(found, limit)
                pending.append(data)
                pending_bytes += len(data)
            parts.file_chunks.clear()
            if pending_bytes >= FLUSH_BYTES:
                await anyio.to_thread.run_sync(out.writelines, pending)
                pending, pending_bytes = [], 0
        parser.finalize()
        if not parts.file_seen:
            raise BadUpload(Msg("Thiếu trường 'file'.", "The 'file' field is missing."))
        if found is None:
            found = sniff(bytes(head))
            if size > settings.max_bytes(found.kind):
                raise _too_large(found, settings.max_bytes(found.kind))
        await anyio.to_thread.run_sync(out.writelines, pending)
        await anyio.to_thread.run_sync(_sync_close, out)
    except ClientDisconnect as exc:
        _abandon(out, path)
        raise BadUpload(Msg("Tải lên bị ngắt giữa chừng.", "The upload was cut off.")) from exc
    except BaseException:
        _abandon(out, path)
        raise
    fields = {}
    for name, value in parts.fields.items():
        try:
            fields[name] = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            path.unlink(missing_ok=True)
            raise BadUpload(
                Msg("Trường '{n}' không phải UTF-8.", "Field '{n}' is not UTF-8.").format(n=name)
            ) from exc
    return Upload(path, parts.filename, size, digest.hexdigest(), found, fields)


def _abandon(out: IO[bytes], path: Path) -> None:
    with contextlib.suppress(Exception):
        out.close()
    path.unlink(missing_ok=True)


def _sync_close(f: IO[bytes]) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


def _too_large(found: FileType | None, limit: int) -> FileTooLarge:
    what = found.kind if found else "tệp"
    return FileTooLarge(
        Msg(
            "Tệp vượt quá giới hạn {mb} MB cho loại '{k}'.",
            "The file exceeds the {mb} MB limit for '{k}'.",
        ).format(mb=round(limit / 1024 / 1024, 1), k=what)
    )


def _portal_first(cap: int) -> PortalFieldFirst:
    return PortalFieldFirst(
        Msg(
            "Gửi trường 'portal' trước trường 'file' trong biểu mẫu: chưa biết cổng thông tin "
            "thì chỉ nhận tối đa {kb} KB của tệp.",
            "Send the 'portal' field before the 'file' field in the form: until the portal "
            "is known, at most {kb} KB of the file is accepted.",
        ).format(kb=cap // 1024)
    )


def sweep_stale_uploads(tmp_dir: Path, *, older_than: float = 6 * 3600) -> int:
    """Remove upload files a crashed process left behind (older than any upload could
    still be running); returns how many were removed."""
    import time

    removed = 0
    cutoff = time.time() - older_than
    for path in tmp_dir.glob("*.upload"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
