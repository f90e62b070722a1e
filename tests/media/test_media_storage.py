"""One storage contract, held by every backend: the local folder, S3 over real HTTP
against moto's server (always), and a real S3/MinIO when S3_ENDPOINT is set."""

from __future__ import annotations

import os

import httpx
import pytest

from services.media.storage import LocalStorage, Storage, check_key

BIG = os.urandom(3 * 1024 * 1024 + 123)  # over the local chunk; S3 multipart when forced


async def collect(storage: Storage, key: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.stream(key, start, length)])


class TestStorageContract:
    async def test_put_bytes_read_and_size(self, any_storage):
        await any_storage.put_bytes("o/a.jpg", b"xin chao", content_type="image/jpeg")
        assert await any_storage.read("o/a.jpg") == b"xin chao"
        assert await any_storage.size("o/a.jpg") == 8

    async def test_put_file_streams_large_files(self, any_storage, tmp_path, monkeypatch):
        from services.media.storage import S3Storage

        monkeypatch.setattr(S3Storage, "PART_SIZE", 5 * 1024 * 1024)
        path = tmp_path / "upload.bin"
        data = os.urandom(11 * 1024 * 1024 + 7)  # three multipart parts on S3
        path.write_bytes(data)
        await any_storage.put_file("o/big.mp4", path, content_type="video/mp4")
        assert await any_storage.size("o/big.mp4") == len(data)
        assert await collect(any_storage, "o/big.mp4") == data

    async def test_ranges(self, any_storage):
        await any_storage.put_bytes("o/r.bin", BIG, content_type="application/octet-stream")
        assert await collect(any_storage, "o/r.bin", 10, 100) == BIG[10:110]
        assert await collect(any_storage, "o/r.bin", len(BIG) - 5) == BIG[-5:]
        middle = await collect(any_storage, "o/r.bin", 1, len(BIG) - 2)
        assert middle == BIG[1:-1]

    async def test_missing_objects(self, any_storage):
        assert await any_storage.size("o/nothing") is None
        await any_storage.delete("o/nothing")  # not an error

    async def test_overwrite_and_delete(self, any_storage):
        await any_storage.put_bytes("r/x/thumb.webp", b"1", content_type="image/webp")
        await any_storage.put_bytes("r/x/thumb.webp", b"22", content_type="image/webp")
        assert await any_storage.read("r/x/thumb.webp") == b"22"
        await any_storage.delete("r/x/thumb.webp")
        assert await any_storage.size("r/x/thumb.webp") is None
        assert await any_storage.keys() == []

    async def test_keys_by_prefix(self, any_storage):
        for key in ("o/1.jpg", "r/1/thumb.webp", "r/1/thumb.jpeg"):
            await any_storage.put_bytes(key, b".", content_type="image/jpeg")
        assert await any_storage.keys("r/1/") == ["r/1/thumb.jpeg", "r/1/thumb.webp"]
        assert len(await any_storage.keys()) == 3

    @pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "o/../../x", "O/UPPER", ""])
    async def test_keys_are_never_paths_to_follow(self, any_storage, key):
        with pytest.raises(ValueError, match="bad storage key"):
            await any_storage.put_bytes(key, b".", content_type="text/plain")

    async def test_presigned_urls(self, any_storage):
        await any_storage.put_bytes("o/p.pdf", b"%PDF-1.4 tai lieu", content_type="application/pdf")
        url = await any_storage.presigned_url(
            "o/p.pdf",
            content_type="application/pdf",
            disposition="attachment; filename*=UTF-8''V%C4%83n%20b%E1%BA%A3n.pdf",
            seconds=60,
        )
        if isinstance(any_storage, LocalStorage):
            assert url is None
            return
        assert url is not None
        async with httpx.AsyncClient() as http:
            r = await http.get(url)
        assert r.status_code == 200
        assert r.content == b"%PDF-1.4 tai lieu"
        assert r.headers["content-disposition"].endswith("V%C4%83n%20b%E1%BA%A3n.pdf")


class TestLocalWrites:
    async def test_failed_write_leaves_nothing(self, tmp_path, monkeypatch):
        storage = LocalStorage(tmp_path / "media")
        await storage.open()

        def broken_replace(*_args):
            raise OSError("disk full")

        monkeypatch.setattr("services.media.storage.os.replace", broken_replace)
        with pytest.raises(OSError, match="disk full"):
            await storage.put_bytes("o/a.jpg", b"data", content_type="image/jpeg")
        source = tmp_path / "upload"
        source.write_bytes(b"data")
        with pytest.raises(OSError, match="disk full"):
            await storage.put_file("o/b.jpg", source, content_type="image/jpeg")
        assert [p for p in (tmp_path / "media").rglob("*") if p.is_file()] == []

    def test_key_check(self):
        assert check_key("r/abc/thumb.webp") == "r/abc/thumb.webp"
        with pytest.raises(ValueError, match="bad storage key"):
            check_key("r/../x")
