"""Where the bytes live: one `Storage` contract, two backends.

`LocalStorage` keeps objects as files under `<data_dir>/media` (the embedded default);
every write goes to a temporary file in the same directory, is fsynced and renamed into
place, so a reader never sees half a file and a failure leaves nothing behind.
`S3Storage` talks to MinIO or any S3 with the `minio` client; the client is synchronous,
so every call runs in a worker thread and large files go up as multipart uploads read
part by part from disk, never whole into memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import anyio.to_thread

CHUNK = 256 * 1024
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")


def check_key(key: str) -> str:
    """Keys are made by the service; anything else is a bug, never a path to follow."""
    if not _KEY.fullmatch(key) or ".." in key:
        raise ValueError(f"bad storage key {key!r}")
    return key


class Storage(Protocol):
    """What the media service needs from a place that keeps bytes."""

    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        """Store the file at `path` (it may be moved away; the caller removes leftovers)."""

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def size(self, key: str) -> int | None:
        """The object's size, or None when there is none."""

    def stream(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The object's bytes from `start`, `length` of them (all when None)."""

    async def read(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""

    async def keys(self, prefix: str = "") -> list[str]: ...

    async def presigned_url(
        self, key: str, *, content_type: str, disposition: str, seconds: int
    ) -> str | None:
        """A URL a browser may GET directly, or None when the backend has none."""


class LocalStorage:
    """Files under one root directory."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _temp_beside(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.parent / f".{target.name}.{uuid.uuid4().hex}.part"

    def _commit(self, temp: Path, target: Path) -> None:
        os.replace(temp, target)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        temp = self._temp_beside(target)
        try:
            try:
                os.link(path, temp)  # same filesystem: no copy
            except OSError:
                shutil.copyfile(path, temp)
            with open(temp, "rb+") as f:
                os.fsync(f.fileno())
            self._commit(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def _put_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        temp = self._temp_beside(target)
        try:
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._commit(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        await anyio.to_thread.run_sync(self._put_file, key, path)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        await anyio.to_thread.run_sync(self._put_bytes, key, data)

    async def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def stream(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        f = await anyio.open_file(self._path(key), "rb")
        try:
            await f.seek(start)
            left = length
            while left is None or left > 0:
                chunk = await f.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            await f.aclose()

    async def read(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def keys(self, prefix: str = "") -> list[str]:
        found = []
        for path in self.root.rglob("*"):
            if path.is_file():
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    async def presigned_url(
        self, key: str, *, content_type: str, disposition: str, seconds: int
    ) -> str | None:
        return None


class S3Storage:
    """A bucket on MinIO or any S3-compatible server."""

    name = "s3"
    PART_SIZE = 8 * 1024 * 1024

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = True,
        region: str = "us-east-1",
    ) -> None:
        from minio import Minio

        self.bucket = bucket
        # The region is given so the client never asks the server for it (one round trip
        # per bucket, and presigning must not need the network).
        self.client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )

    async def open(self) -> None:
        def ensure() -> None:
            if not self.client.bucket_exists(self.bucket):
                with contextlib.suppress(Exception):  # created meanwhile by another process
                    self.client.make_bucket(self.bucket)
            if not self.client.bucket_exists(self.bucket):
                raise RuntimeError(f"S3 bucket {self.bucket!r} cannot be created")

        await anyio.to_thread.run_sync(ensure)

    async def close(self) -> None:
        return None

    async def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        def upload() -> None:
            size = path.stat().st_size
            with open(path, "rb") as f:
                # One part in memory at a time: multipart above PART_SIZE, read from disk.
                self.client.put_object(
                    self.bucket,
                    check_key(key),
                    f,
                    length=size,
                    content_type=content_type,
                    part_size=self.PART_SIZE,
                    num_parallel_uploads=1,
                )

        await anyio.to_thread.run_sync(upload)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        import io

        await anyio.to_thread.run_sync(
            lambda: self.client.put_object(
                self.bucket, check_key(key), io.BytesIO(data), len(data), content_type=content_type
            )
        )

    async def size(self, key: str) -> int | None:
        from minio.error import S3Error

        def stat() -> int | None:
            try:
                return self.client.stat_object(self.bucket, check_key(key)).size
            except S3Error as exc:
                if exc.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                    return None
                raise

        return await anyio.to_thread.run_sync(stat)

    async def stream(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        response: Any = await anyio.to_thread.run_sync(
            lambda: self.client.get_object(
                self.bucket, check_key(key), offset=start, length=length or 0
            )
        )
        chunks: Iterator[bytes] = response.stream(CHUNK)
        try:
            while True:
                chunk = await anyio.to_thread.run_sync(next, chunks, None)
                if chunk is None:
                    break
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def read(self, key: str) -> bytes:
        parts = [chunk async for chunk in self.stream(key)]
        return b"".join(parts)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self.client.remove_object, self.bucket, check_key(key))

    async def keys(self, prefix: str = "") -> list[str]:
        def listing() -> list[str]:
            objects = self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return sorted(str(o.object_name) for o in objects)

        return await anyio.to_thread.run_sync(listing)

    async def presigned_url(
        self, key: str, *, content_type: str, disposition: str, seconds: int
    ) -> str | None:
        return await anyio.to_thread.run_sync(
            lambda: self.client.presigned_get_object(
                self.bucket,
                check_key(key),
                expires=timedelta(seconds=seconds),
                response_headers={
                    "response-content-type": content_type,
                    "response-content-disposition": disposition,
                },
            )
        )
