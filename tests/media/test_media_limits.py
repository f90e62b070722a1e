"""What an upload may cost and how user files are served (issue 10, findings 9, 10, 12):
animation bombs refused from their headers, a non-member's upload stopped before it fills
the disk, invisible and bidi characters dropped from file names, and every user file served
with `nosniff` and a sandboxing CSP."""

from __future__ import annotations

import io
import unicodedata
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from factories import assert_problem
from media_samples import image, pdf
from PIL import Image
from sqlalchemy import func, select

from services.media.models import MediaAsset

MB = 1024 * 1024
CSP = "default-src 'none'; sandbox"


async def assert_nothing_left(media_db, storage, media_settings) -> None:
    assert await storage.keys() == []
    assert list((media_settings.data_dir / "media-uploads").iterdir()) == []
    async with media_db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(MediaAsset)) == 0


# --- animations: frames x pixels -------------------------------------------------------


def gif_bomb(frames: int = 19, side: int = 4000) -> bytes:
    """The reported bomb: 19 frames of 4000 x 4000 in about 240 KB. One frame is encoded by
    Pillow and its image block repeated, so the test does not pay for making it."""
    out = io.BytesIO()
    Image.new("P", (side, side), 3).save(out, format="GIF")
    data = out.getvalue()
    descriptor = b"\x2c\x00\x00\x00\x00" + side.to_bytes(2, "little") * 2
    at = data.index(descriptor)
    return data[:at] + data[at:-1] * frames + b";"


def animation(fmt: str, frames: int, size: tuple[int, int]) -> bytes:
    images = [Image.new("RGB", size, (i * 12 % 256, 40, 200 - i)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format=fmt, save_all=True, append_images=images[1:], duration=80)
    return out.getvalue()


class TestAnimationBudget:
    async def test_the_reported_gif_bomb_is_refused_before_decoding(
        self, upload, media_db, storage, media_settings
    ):
        bomb = gif_bomb()
        assert len(bomb) < 300 * 1024
        with Image.open(io.BytesIO(bomb)) as opened:  # a real animation Pillow would decode
            assert (opened.n_frames, opened.size) == (19, (4000, 4000))
        r = await upload("banner.gif", bomb)
        problem = assert_problem(r, 422, "animation-too-large")
        assert "19 khung hình 4000x4000" in problem["detail"]
        await assert_nothing_left(media_db, storage, media_settings)

    async def test_the_refusal_says_what_to_do_in_english(self, api, editor):
        r = await api.post(
            "/v1/media",
            data={"portal": "phu-yen"},
            files={"file": ("banner.gif", gif_bomb(), "image/gif")},
            headers={**editor, "Accept-Language": "en"},
        )
        detail = assert_problem(r, 422, "animation-too-large")["detail"]
        assert "19 frames of 4000x4000" in detail
        assert "use fewer frames or a smaller size" in detail

    @pytest.mark.parametrize(("fmt", "name"), [("WEBP", "anh-dong.webp"), ("GIF", "a.gif")])
    async def test_animated_webp_is_weighed_too(
        self, upload, media_db, storage, media_settings, fmt, name
    ):
        media_settings.max_animation_pixels = 1_000_000
        data = animation(fmt, 20, (300, 300))  # 1.8 million pixels: small on disk
        with Image.open(io.BytesIO(data)) as opened:
            assert opened.n_frames == 20
        assert_problem(await upload(name, data), 422, "animation-too-large")
        await assert_nothing_left(media_db, storage, media_settings)

    async def test_an_apng_is_refused_by_type_or_weighed_when_disguised(
        self, upload, media_db, storage, media_settings
    ):
        apng = animation("PNG", 20, (300, 300))
        assert_problem(await upload("a.png", apng), 415, "unsupported-media-type")
        # A text chunk pushes `acTL` past the first 8 KB the type is decided from: it passes
        # as a PNG, and Pillow would decode every frame, so it is weighed like the others.
        text = b"tEXtComment\x00" + b"x" * 9000
        chunk = len(text[4:]).to_bytes(4, "big") + text + zlib.crc32(text).to_bytes(4, "big")
        disguised = apng[:33] + chunk + apng[33:]
        with Image.open(io.BytesIO(disguised)) as opened:
            assert opened.n_frames == 20
        media_settings.max_animation_pixels = 1_000_000
        assert_problem(await upload("a.png", disguised), 422, "animation-too-large")
        await assert_nothing_left(media_db, storage, media_settings)

    async def test_within_the_budget_it_is_kept_with_its_frames(self, upload, api, editor):
        data = animation("WEBP", 20, (300, 300))
        r = await upload("anh-dong.webp", data)
        assert r.status_code == 201, r.text
        stored = await api.get(r.json()["url"], headers=editor)
        with Image.open(io.BytesIO(stored.content)) as opened:
            assert opened.n_frames == 20

    async def test_too_many_frames(self, upload, media_db, storage, media_settings):
        media_settings.max_animation_frames = 50
        r = await upload("nhieu-khung.gif", animation("GIF", 60, (8, 8)))
        assert ">50" in assert_problem(r, 422, "animation-too-large")["detail"]
        await assert_nothing_left(media_db, storage, media_settings)

    async def test_a_frame_larger_than_the_screen_counts_at_its_size(
        self, upload, media_db, storage, media_settings
    ):
        """Decoders grow the canvas to a frame that overflows the logical screen."""
        data = bytearray(gif_bomb())
        data[6:10] = (1).to_bytes(2, "little") * 2  # a 1 x 1 logical screen
        r = await upload("a.gif", bytes(data))
        assert "4000x4000" in assert_problem(r, 422, "animation-too-large")["detail"]
        await assert_nothing_left(media_db, storage, media_settings)


# --- the portal field before the file --------------------------------------------------


def form(*, portal_first: bool, file_bytes: int, portal: str = "phu-yen", probe=None):
    """A multipart body streamed in 64 KB chunks (never whole in memory); `probe` is
    called before each chunk of the file is handed over."""
    chunk = b"\x00" * 65536
    portal_part = (
        b'--b\r\nContent-Disposition: form-data; name="portal"\r\n\r\n' + portal.encode() + b"\r\n"
    )
    sent = {"file": 0}

    async def body() -> AsyncIterator[bytes]:
        if portal_first:
            yield portal_part
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="lon.mp4"\r\n\r\n'
        head = image("JPEG", (8, 8))
        yield head
        sent["file"] += len(head)
        while sent["file"] < file_bytes:
            if probe is not None:
                probe()
            yield chunk
            sent["file"] += len(chunk)
        yield b"\r\n"
        if not portal_first:
            yield portal_part
        yield b"--b--\r\n"

    return body(), sent


class DiskWatch:
    """The most bytes the upload folder held, sampled as the request body streams."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.most = 0

    def watch(self) -> None:
        held = sum(p.stat().st_size for p in self.tmp_dir.glob("*.upload"))
        self.most = max(self.most, held)


class TestPortalBeforeFile:
    async def test_a_non_member_sending_the_file_first_is_stopped_at_the_cap(
        self, api, outsider, media_db, storage, media_settings
    ):
        disk = DiskWatch(media_settings.data_dir / "media-uploads")
        body, sent = form(portal_first=False, file_bytes=50 * MB, probe=disk.watch)
        r = await api.post(
            "/v1/media",
            content=body,
            headers={**outsider, "Content-Type": "multipart/form-data; boundary=b"},
        )
        problem = assert_problem(r, 400, "portal-field-first")
        assert "trước trường 'file'" in problem["detail"]
        cap = media_settings.max_bytes_before_portal
        assert sent["file"] <= cap + 2 * 65536  # read no further than the cap, of 50 MB
        assert disk.most <= cap  # and never more than the cap on disk
        await assert_nothing_left(media_db, storage, media_settings)

    async def test_a_member_sending_the_file_first_is_told_to_send_portal_first(
        self, api, editor, media_settings
    ):
        body, sent = form(portal_first=False, file_bytes=3 * MB)
        r = await api.post(
            "/v1/media",
            content=body,
            headers={
                **editor,
                "Content-Type": "multipart/form-data; boundary=b",
                "Accept-Language": "en",
            },
        )
        detail = assert_problem(r, 400, "portal-field-first")["detail"]
        assert "Send the 'portal' field before the 'file' field" in detail
        assert sent["file"] < 2 * MB

    async def test_a_small_file_before_the_portal_is_still_accepted(self, api, editor):
        data = image("JPEG", (64, 64))
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            + data
            + b'\r\n--b\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
            + b"--b--\r\n"
        )
        r = await api.post(
            "/v1/media",
            content=body,
            headers={**editor, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert r.status_code == 201, r.text

    async def test_a_non_member_naming_the_portal_first_is_refused_before_the_file(
        self, api, outsider, media_db, storage, media_settings
    ):
        disk = DiskWatch(media_settings.data_dir / "media-uploads")
        body, sent = form(portal_first=True, file_bytes=50 * MB, probe=disk.watch)
        r = await api.post(
            "/v1/media",
            content=body,
            headers={**outsider, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert_problem(r, 403, "not-portal-member")
        assert sent["file"] <= 2 * 65536
        assert disk.most == 0
        await assert_nothing_left(media_db, storage, media_settings)

    async def test_an_asynchronous_membership_check_is_awaited(
        self, api, outsider, media_settings, monkeypatch
    ):
        """Membership may come from content over HTTP; the check is awaited then."""
        from services.media import service

        async_check = service.check_upload_target
        asked = []

        async def check_with_content(ctx, principal, portal):
            asked.append(portal)
            await async_check(ctx, principal, portal)

        monkeypatch.setattr(service, "check_upload_target", check_with_content)
        body, sent = form(portal_first=True, file_bytes=4 * MB)
        r = await api.post(
            "/v1/media",
            content=body,
            headers={**outsider, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert_problem(r, 403, "not-portal-member")
        assert asked == ["phu-yen"]
        assert sent["file"] <= 2 * 65536

    async def test_the_portal_field_twice_is_refused(self, api, token_for):
        body = (
            b'--b\r\nContent-Disposition: form-data; name="portal"\r\n\r\nha-noi\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
            + image("JPEG", (8, 8))
            + b'\r\n--b\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
            + b"--b--\r\n"
        )
        r = await api.post(
            "/v1/media",
            content=body,
            headers={
                **token_for({"ha-noi": "editor"}),
                "Content-Type": "multipart/form-data; boundary=b",
            },
        )
        assert "hai lần" in assert_problem(r, 400, "bad-upload")["detail"]


# --- file names ------------------------------------------------------------------------

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


class TestFileNames:
    async def test_a_right_to_left_override_is_dropped(self, upload, api, editor):
        # Shown as "Hóa đơn tháng 3‮fdp.exe" it reads "…exe.pdf"; stored without the override.
        r = await upload("Hóa đơn‮fdp.pdf", pdf())
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "Hóa đơnfdp.pdf"
        got = await api.get(r.json()["url"], headers=editor)
        disposition = got.headers["content-disposition"]
        assert "%E2%80%AE" not in disposition
        assert unquote(disposition.split("filename*=UTF-8''")[1]) == "Hóa đơnfdp.pdf"

    async def test_every_bidi_control_and_format_character_is_dropped(self, upload):
        hidden = "".join(BIDI) + "\u200b\u200d\ufeff\u00ad\u0085\u2028"
        r = await upload(f"Quyết{hidden} định.pdf", pdf())
        assert r.status_code == 201, r.text
        name = r.json()["name"]
        assert name == "Quyết định.pdf"
        assert unicodedata.is_normalized("NFC", name)

    async def test_vietnamese_in_nfd_is_kept_as_nfc(self, upload):
        nfd = unicodedata.normalize("NFD", "Trụ sở Bảo hiểm xã hội.jpg")
        r = await upload(nfd, image())
        assert r.json()["name"] == "Trụ sở Bảo hiểm xã hội.jpg"

    async def test_names_stored_before_are_cleaned_when_served(self, upload, api, editor, media_db):
        asset = (await upload("a.pdf", pdf())).json()
        async with media_db.transaction() as session:
            row = await session.get(MediaAsset, asset["id"])
            row.original_name = "Báo cáo\u202efdp.exe"
        got = await api.get(asset["url"], headers=editor)
        assert unquote(got.headers["content-disposition"].split("''")[1]) == "Báo cáofdp.exe"
        meta = (await api.get(f"/v1/media/{asset['id']}", headers=editor)).json()
        assert meta["name"] == "Báo cáofdp.exe"


# --- headers on user files -------------------------------------------------------------


class TestUserFileHeaders:
    async def test_every_file_and_rendition_is_sandboxed(self, upload, api, editor):
        picture = (await upload("a.jpg", image())).json()
        document = (await upload("a.pdf", pdf())).json()
        urls = [picture["url"], document["url"], document["url"] + "?download=true"]
        urls += list(picture["renditions"].values())
        for url in urls:
            r = await api.get(url, headers=editor)
            assert r.status_code == 200, url
            assert r.headers["x-content-type-options"] == "nosniff", url
            assert r.headers["content-security-policy"] == CSP, url

    async def test_partial_and_not_modified_answers_too(self, upload, api, editor):
        document = (await upload("a.pdf", pdf())).json()
        partial = await api.get(document["url"], headers={**editor, "Range": "bytes=0-9"})
        assert partial.status_code == 206
        etag = partial.headers["etag"]
        same = await api.get(document["url"], headers={**editor, "If-None-Match": etag})
        assert same.status_code == 304
        for r in (partial, same):
            assert r.headers["content-security-policy"] == CSP
            assert r.headers["x-content-type-options"] == "nosniff"
