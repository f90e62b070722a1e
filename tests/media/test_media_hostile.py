"""A corpus of hostile and broken files: each is refused with a clear 4xx problem and
leaves nothing behind, neither in storage nor in the database nor in the upload folder."""

from __future__ import annotations

import pytest
from factories import assert_problem
from media_samples import hostile_corpus, image, jpeg_with_php_in_exif, png_claiming, zip_bomb_docx
from sqlalchemy import func, select

from services.media.models import MediaAsset

CORPUS = hostile_corpus()


async def assert_nothing_left(media_db, storage, media_settings) -> None:
    assert await storage.keys() == []
    leftovers = list((media_settings.data_dir / "media-uploads").iterdir())
    assert leftovers == []
    async with media_db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(MediaAsset)) == 0


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 20
    assert len({case for case, *_ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("case", "name", "data", "status"), CORPUS, ids=[c[0] for c in CORPUS])
async def test_refused_and_nothing_left(
    upload, media_db, storage, media_settings, case, name, data, status
):
    r = await upload(name, data)
    problem = assert_problem(r, status)
    assert problem["detail"], case
    await assert_nothing_left(media_db, storage, media_settings)


async def test_refusal_is_bilingual(upload):
    r = await upload("anh.jpg", b"<html><script>alert(1)</script></html>")
    vi = assert_problem(r, 415, "unsupported-media-type")
    assert "SVG/HTML" in vi["detail"]
    r = await upload(
        "anh.jpg", b"<html></html>", headers=None
    )  # default language is Vietnamese; English on request
    assert "không" in r.json()["detail"].lower()


async def test_english_on_request(api, editor):
    r = await api.post(
        "/v1/media",
        data={"portal": "phu-yen"},
        files={"file": ("anh.jpg", b"<svg/>", "image/jpeg")},
        headers={**editor, "Accept-Language": "en"},
    )
    assert "refused" in assert_problem(r, 415)["detail"]


async def test_oversize_stream_is_refused_while_streaming(
    api, editor, media_db, storage, media_settings
):
    media_settings.max_image_bytes = 64 * 1024
    head = image("JPEG", (32, 32))
    sent = 0

    async def body():
        nonlocal sent
        boundary = b"--b0undary"
        yield boundary + b'\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
        yield boundary + (
            b'\r\nContent-Disposition: form-data; name="file"; filename="lon.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n"
        )
        yield head
        for _ in range(64):  # 4 MB more: the service stops long before the end
            sent += 1
            yield b"\x00" * 65536
        yield b"\r\n" + boundary + b"--\r\n"

    r = await api.post(
        "/v1/media",
        content=body(),
        headers={**editor, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert_problem(r, 413, "file-too-large")
    assert sent < 8  # refused at the first chunk over 64 KB, not after reading everything
    await assert_nothing_left(media_db, storage, media_settings)


async def test_an_outsider_is_refused_before_the_file_is_written(
    api, outsider, media_db, storage, media_settings
):
    sent = 0

    async def body():
        nonlocal sent
        yield b'--b\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(64):
            sent += 1
            yield image("JPEG", (8, 8)) if sent == 1 else b"\x00" * 65536
        yield b"\r\n--b--\r\n"

    r = await api.post(
        "/v1/media",
        content=body(),
        headers={**outsider, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_problem(r, 403, "not-portal-member")
    assert sent <= 2
    await assert_nothing_left(media_db, storage, media_settings)


def test_stale_uploads_are_swept(tmp_path):
    import os
    import time

    from services.media.upload import sweep_stale_uploads

    old, fresh = tmp_path / "old.upload", tmp_path / "fresh.upload"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    day_ago = time.time() - 86400
    os.utime(old, (day_ago, day_ago))
    assert sweep_stale_uploads(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["fresh.upload"]


async def test_declared_length_over_every_limit_is_refused_at_once(api, editor, media_settings):
    r = await api.post(
        "/v1/media",
        content=b"",
        headers={
            **editor,
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(media_settings.max_any_bytes * 2),
        },
    )
    assert_problem(r, 413)


@pytest.mark.parametrize(
    ("name", "status"),
    [("anh\x00.jpg", 400), ("anh%00.php.jpg", 400), ("a" * 300 + ".jpg", 400)],
    ids=["nul in the name", "escaped nul in the name", "name too long"],
)
async def test_bad_file_names(upload, media_db, storage, media_settings, name, status):
    r = await upload(name, image("JPEG", (16, 16)))
    assert_problem(r, status, "bad-file-name")
    await assert_nothing_left(media_db, storage, media_settings)


async def test_malformed_multipart(api, editor):
    r = await api.post(
        "/v1/media",
        content=b"--x\r\nnonsense",
        headers={**editor, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "form",
    [
        {"portal": "phu-yen", "virus": "1"},
        {"portal": "phu-yen", "focal_x": "2", "focal_y": "0.5"},
        {"portal": "phu-yen", "focal_x": "0.5"},
        {"portal": "phu-yen", "alt": "x" * 1001},
        {},
        {"portal": "phu-yen", "caption": "a\x00b"},
        {"portal": "x" * 65},
        {"portal": "Phú Yên"},
    ],
    ids=[
        "unknown field",
        "focal out of range",
        "half a focal point",
        "alt too long",
        "no portal",
        "nul in the caption",
        "portal id too long",
        "portal name not id",
    ],
)
async def test_bad_form_fields(api, token_for, media_db, storage, media_settings, form):
    r = await api.post(
        "/v1/media",
        data=form,
        files={"file": ("a.jpg", image("JPEG", (16, 16)), "image/jpeg")},
        headers=token_for(superadmin=True),  # allowed everywhere: the form itself is wrong
    )
    assert r.status_code in {400, 422}, r.text
    await assert_nothing_left(media_db, storage, media_settings)


async def test_not_multipart(api, editor):
    r = await api.post("/v1/media", json={"portal": "phu-yen"}, headers=editor)
    assert_problem(r, 400, "bad-upload")


async def test_no_file(api, editor):
    r = await api.post("/v1/media", data={"portal": "phu-yen"}, headers=editor, files={})
    assert r.status_code == 400


async def test_raw_nul_byte_in_the_file_name(api, editor, media_db, storage, media_settings):
    body = (
        b'--b\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="anh\x00.php.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + image("JPEG", (16, 16)) + b"\r\n--b--\r\n"
    )
    r = await api.post(
        "/v1/media",
        content=body,
        headers={**editor, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert_problem(r, 400, "bad-file-name")
    await assert_nothing_left(media_db, storage, media_settings)


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("bom.docx", zip_bomb_docx(), "ZIP bomb"),
        ("poly.jpg", image("JPEG", (16, 16)) + b"PK\x05\x06" + b"\x00" * 18, "polyglot"),
        ("bomb.png", png_claiming(100_000, 100_000), "decompression bomb"),
        ("php.jpg", jpeg_with_php_in_exif(), "metadata hides code"),
    ],
    ids=["zip bomb", "polyglot", "pixel bomb", "php in exif"],
)
async def test_refused_for_the_right_reason(api, editor, name, data, words):
    r = await api.post(
        "/v1/media",
        data={"portal": "phu-yen"},
        files={"file": (name, data, "application/octet-stream")},
        headers={**editor, "Accept-Language": "en"},
    )
    assert words in assert_problem(r, 422, "broken-file")["detail"]
