"""The media API in-process on PostgreSQL: uploads of every kind, downloads, renditions,
metadata, usage and tenancy."""

from __future__ import annotations

import hashlib
import io
import unicodedata
from urllib.parse import unquote

import pytest
from factories import assert_problem
from media_samples import animated_gif, docx, fixture, image, jpeg_with_exif, odt, pdf, xlsx
from PIL import Image, ImageCms

from services.common.pagination import encode_cursor

KINDS = [
    ("anh.jpg", lambda: image("JPEG"), "image", "image/jpeg"),
    ("anh.png", lambda: image("PNG"), "image", "image/png"),
    ("anh.webp", lambda: image("WEBP"), "image", "image/webp"),
    ("banner.gif", animated_gif, "image", "image/gif"),
    ("phim.mp4", lambda: fixture("clip.mp4"), "video", "video/mp4"),
    ("phim.webm", lambda: fixture("clip.webm"), "video", "video/webm"),
    ("tieng.mp3", lambda: fixture("tone.mp3"), "audio", "audio/mpeg"),
    ("van-ban.pdf", pdf, "document", "application/pdf"),
    (
        "quyết-định.docx",
        docx,
        "document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "bang.xlsx",
        xlsx,
        "document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("van-ban.odt", odt, "document", "application/vnd.oasis.opendocument.text"),
]


class TestUpload:
    @pytest.mark.parametrize(("name", "make", "kind", "mime"), KINDS, ids=[k[0] for k in KINDS])
    async def test_every_allowed_kind_round_trips(
        self, upload, api, editor, name, make, kind, mime
    ):
        data = make()
        r = await upload(name, data, caption="Chú thích")
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["kind"], body["mime"], body["portal"]) == (kind, mime, "phu-yen")
        assert body["sha256"] == hashlib.sha256(data).hexdigest()
        assert body["caption"] == "Chú thích"
        assert r.headers["location"] == f"/v1/media/{body['id']}"
        got = await api.get(body["url"], headers=editor)
        assert got.status_code == 200
        assert got.headers["content-type"] == mime
        assert int(got.headers["content-length"]) == body["size"] == len(got.content)
        if kind != "image":  # images are re-encoded; everything else is kept byte for byte
            assert got.content == data
        assert (body["renditions"] is not None) == (kind == "image")

    async def test_jpeg_end_markers_inside_segments_are_not_its_end(self, upload, api, editor):
        """An end-of-image marker inside a segment (a comment here, an EXIF thumbnail in
        camera files) is skipped by the segment walk: the file is no polyglot."""
        plain = image("JPEG", (64, 48), progressive=True)
        comment = b"\xff\xd9 not the end <b>"
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        data = plain[:2] + segment + plain[2:]
        r = await upload("binh-luan.jpg", data)
        assert r.status_code == 201, r.text
        stored = (await api.get(r.json()["url"], headers=editor)).content
        assert b"not the end" not in stored

    async def test_transparency_is_kept_in_webp_and_flattened_in_jpeg(self, upload, api, editor):
        out = io.BytesIO()
        Image.new("RGBA", (600, 400), (255, 0, 0, 0)).save(out, format="PNG")
        body = (await upload("trong-suot.png", out.getvalue())).json()
        url = body["renditions"]["small"]
        webp = await api.get(url, headers={**editor, "Accept": "image/webp"})
        assert Image.open(io.BytesIO(webp.content)).mode == "RGBA"
        jpeg = await api.get(url, headers=editor)
        assert Image.open(io.BytesIO(jpeg.content)).getpixel((10, 10)) == (255, 255, 255)

    async def test_a_name_without_extension_is_fine(self, upload):
        r = await upload("anh-khong-duoi", image("PNG"))
        assert r.status_code == 201
        assert r.json()["mime"] == "image/png"

    async def test_same_bytes_same_portal_return_the_existing_asset(self, upload, token_for):
        data = image("JPEG", (300, 200))
        first = await upload("a.jpg", data)
        again = await upload("b.jpeg", data)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        other = await upload(
            "a.jpg", data, portal="ha-noi", headers=token_for({"ha-noi": "editor"})
        )
        assert other.status_code == 201
        assert other.json()["id"] != first.json()["id"]

    async def test_a_racing_duplicate_on_postgresql_keeps_one_asset(
        self, upload, storage, monkeypatch
    ):
        """The unique key decides in a savepoint; the loser removes what it stored."""
        from services.media import repository

        data = pdf()
        first = (await upload("a.pdf", data)).json()
        real, calls = repository.by_sha, []

        async def first_miss(*args):
            calls.append(args)
            return None if len(calls) == 1 else await real(*args)

        monkeypatch.setattr(repository, "by_sha", first_miss)
        again = await upload("b.pdf", data)
        assert (again.status_code, again.json()["id"]) == (200, first["id"])
        assert await storage.keys() == [f"o/{first['id']}.pdf"]

    async def test_anonymous_may_not_upload(self, upload):
        r = await upload("a.jpg", image(), headers={})
        assert_problem(r, 401)

    async def test_only_members_of_the_portal_may_upload(self, upload, outsider, storage):
        r = await upload("a.jpg", image(), headers=outsider)
        assert_problem(r, 403, "not-portal-member")
        assert await storage.keys() == []

    async def test_superadmin_may_upload_anywhere(self, upload, token_for):
        r = await upload("a.jpg", image(), portal="trung-uong", headers=token_for(superadmin=True))
        assert r.status_code == 201

    async def test_vietnamese_fields_are_nfc(self, upload):
        composed = unicodedata.normalize("NFC", "Hòa Bình")
        decomposed = unicodedata.normalize("NFD", composed)  # typed with combining marks
        assert decomposed != composed
        r = await upload("a.jpg", image(), alt=decomposed, credit="  Ảnh: BHXH  ")
        assert r.json()["alt"] == composed
        assert r.json()["credit"] == "Ảnh: BHXH"


class TestImages:
    async def test_exif_and_gps_are_stripped_and_orientation_applied(self, upload, api, editor):
        data = jpeg_with_exif((640, 480), orientation=6)  # "rotate 90° clockwise to view"
        assert b"Camera BHXH" in data
        body = (await upload("gps.jpg", data)).json()
        assert (body["width"], body["height"]) == (480, 640)
        stored = (await api.get(body["url"], headers=editor)).content
        assert b"Camera BHXH" not in stored
        with Image.open(io.BytesIO(stored)) as img:
            assert not img.getexif()
            assert img.size == (480, 640)
            # The red half (left in the raw pixels) is on top once rotated clockwise.
            top = img.getpixel((240, 100))
            assert top[0] > 150
            assert top[2] < 100

    async def test_xmp_and_comments_are_stripped_colour_profile_kept(self, upload, api, editor):
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        xmp = b"<x:xmpmeta><exif:GPSLatitude>13,5.5N</exif:GPSLatitude></x:xmpmeta>"
        data = image("JPEG", (80, 60), xmp=xmp, comment=b"ghi chu rieng", icc_profile=icc)
        assert b"GPSLatitude" in data
        body = (await upload("xmp.jpg", data)).json()
        stored = (await api.get(body["url"], headers=editor)).content
        assert b"GPSLatitude" not in stored
        assert b"ghi chu rieng" not in stored
        assert Image.open(io.BytesIO(stored)).info["icc_profile"] == icc

    async def test_animation_is_kept_and_its_comment_dropped(self, upload, api, editor):
        data = animated_gif(comment=b"ghi chu rieng")
        body = (await upload("banner.gif", data)).json()
        stored = (await api.get(body["url"], headers=editor)).content
        assert b"ghi chu rieng" in data
        assert b"ghi chu rieng" not in stored
        assert Image.open(io.BytesIO(stored)).n_frames == 3

    async def test_renditions_sizes(self, upload, api, editor):
        body = (await upload("lon.jpg", image("JPEG", (2400, 1600)))).json()
        expected = {"thumb": (160, 160), "small": (480, 320), "medium": (960, 640)}
        for name, size in {**expected, "large": (1600, 1067)}.items():
            r = await api.get(body["renditions"][name], headers={**editor, "Accept": "image/webp"})
            assert r.status_code == 200
            assert r.headers["content-type"] == "image/webp"
            with Image.open(io.BytesIO(r.content)) as img:
                assert img.format == "WEBP"
                assert img.size == size

    async def test_jpeg_fallback_by_accept_and_vary(self, upload, api, editor):
        body = (await upload("a.png", image("PNG", (800, 600)))).json()
        url = body["renditions"]["small"]
        webp = await api.get(url, headers={**editor, "Accept": "image/avif,image/webp,*/*"})
        jpeg = await api.get(url, headers={**editor, "Accept": "image/*"})
        assert webp.headers["content-type"] == "image/webp"
        assert jpeg.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"
        assert webp.headers["vary"] == jpeg.headers["vary"] == "Accept"
        assert webp.headers["etag"] != jpeg.headers["etag"]

    async def test_never_upscaled(self, upload, api, editor):
        body = (await upload("nho.jpg", image("JPEG", (300, 200)))).json()
        r = await api.get(body["renditions"]["large"], headers={**editor, "Accept": "image/webp"})
        assert Image.open(io.BytesIO(r.content)).size == (300, 200)
        thumb = await api.get(body["renditions"]["thumb"], headers=editor)
        assert Image.open(io.BytesIO(thumb.content)).size == (160, 160)

    async def test_deterministic_urls_change_with_the_focal_point(self, upload, api, editor):
        data = image("JPEG", (1200, 400))
        body = (await upload("ngang.jpg", data)).json()
        again = (await api.get(f"/v1/media/{body['id']}", headers=editor)).json()
        assert again["renditions"] == body["renditions"]
        before = (await api.get(body["renditions"]["thumb"], headers=editor)).content
        r = await api.patch(
            f"/v1/media/{body['id']}", json={"focal": {"x": 0.95, "y": 0.5}}, headers=editor
        )
        assert r.status_code == 200, r.text
        changed = r.json()
        assert changed["focal"] == {"x": 0.95, "y": 0.5}
        assert changed["renditions"]["thumb"] != body["renditions"]["thumb"]
        after = await api.get(changed["renditions"]["thumb"], headers=editor)
        assert after.content != before
        with Image.open(io.BytesIO(after.content)) as img:
            pixel = img.convert("RGB").getpixel((80, 80))
        assert pixel[2] > 150
        assert pixel[0] < 100

    async def test_unknown_rendition_is_404(self, upload, api, editor):
        body = (await upload("a.jpg", image())).json()
        r = await api.get(f"/v1/media/{body['id']}/renditions/huge", headers=editor)
        assert_problem(r, 404)

    async def test_documents_have_no_renditions(self, upload, api, editor):
        body = (await upload("a.pdf", pdf())).json()
        r = await api.get(f"/v1/media/{body['id']}/renditions/thumb", headers=editor)
        assert_problem(r, 404)


class TestDownload:
    async def test_range_requests(self, upload, api, editor):
        data = fixture("clip.mp4")
        url = (await upload("phim.mp4", data)).json()["url"]
        r = await api.get(url, headers={**editor, "Range": "bytes=100-199"})
        assert r.status_code == 206
        assert r.content == data[100:200]
        assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
        assert r.headers["accept-ranges"] == "bytes"
        tail = await api.get(url, headers={**editor, "Range": "bytes=-50"})
        assert (tail.status_code, tail.content) == (206, data[-50:])
        open_end = await api.get(url, headers={**editor, "Range": f"bytes={len(data) - 10}-"})
        assert open_end.content == data[-10:]
        past_end = await api.get(url, headers={**editor, "Range": f"bytes=0-{len(data) + 500}"})
        assert (past_end.status_code, past_end.content) == (206, data)

    @pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=50-10", "bytes=-0"])
    async def test_unsatisfiable_range_is_416(self, upload, api, editor, header):
        url = (await upload("phim.mp4", fixture("clip.mp4"))).json()["url"]
        r = await api.get(url, headers={**editor, "Range": header})
        assert_problem(r, 416)
        assert r.headers["content-range"].startswith("bytes */")

    @pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-5", "bytes=abc"])
    async def test_ranges_we_ignore_get_the_whole_file(self, upload, api, editor, header):
        data = fixture("tone.mp3")
        url = (await upload("t.mp3", data)).json()["url"]
        r = await api.get(url, headers={**editor, "Range": header})
        assert (r.status_code, r.content) == (200, data)

    async def test_if_range_with_an_old_etag_gets_the_whole_file(self, upload, api, editor):
        data = fixture("tone.mp3")
        url = (await upload("t.mp3", data)).json()["url"]
        r = await api.get(url, headers={**editor, "Range": "bytes=0-9", "If-Range": '"old"'})
        assert (r.status_code, r.content) == (200, data)

    async def test_etag_and_304(self, upload, api, editor):
        data = pdf()
        url = (await upload("a.pdf", data)).json()["url"]
        first = await api.get(url, headers=editor)
        assert first.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        again = await api.get(url, headers={**editor, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""

    async def test_content_disposition_keeps_vietnamese_names(self, upload, api, editor):
        name = "Quyết định 3216 BHXH.docx"
        url = (await upload(name, docx())).json()["url"]
        r = await api.get(url, headers=editor)
        disposition = r.headers["content-disposition"]
        assert disposition.startswith("attachment; ")
        assert 'filename="Quyet dinh 3216 BHXH.docx"' in disposition
        encoded = disposition.split("filename*=UTF-8''")[1]
        assert unquote(encoded) == name
        assert r.headers["x-content-type-options"] == "nosniff"

    async def test_pdf_inline_unless_asked_to_download(self, upload, api, editor):
        url = (await upload("Công văn.pdf", pdf())).json()["url"]
        assert (
            (await api.get(url, headers=editor)).headers["content-disposition"].startswith("inline")
        )
        r = await api.get(url + "?download=true", headers=editor)
        assert r.headers["content-disposition"].startswith("attachment")

    async def test_draft_media_is_private(self, upload, api, editor):
        body = (await upload("a.jpg", image())).json()
        assert body["public"] is False
        r = await api.get(body["url"], headers=editor)
        assert r.headers["cache-control"] == "private, no-cache"
        for url in (f"/v1/media/{body['id']}", body["url"], body["renditions"]["thumb"]):
            assert_problem(await api.get(url), 404)


class TestUsageAndPublicity:
    async def publish(self, api, item_id, media_ids, *, version=1, published=True):
        r = await api.put(
            f"/internal/usage/{item_id}",
            json={
                "portal": "phu-yen",
                "media_ids": media_ids,
                "published": published,
                "version": version,
            },
        )
        assert r.status_code == 204, r.text

    async def test_published_media_is_public_with_long_cache(self, upload, api):
        body = (await upload("a.jpg", image(), alt="Trụ sở BHXH")).json()
        await self.publish(api, "item-1", [body["id"]])
        meta = (await api.get(f"/v1/media/{body['id']}")).json()
        assert meta["public"] is True
        assert meta["used_by"] is None  # anonymous readers do not see who uses it
        r = await api.get(meta["renditions"]["medium"], headers={"Accept": "image/webp"})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        f = await api.get(meta["url"])
        assert f.headers["cache-control"] == "public, max-age=31536000, immutable"
        stale = await api.get(meta["renditions"]["medium"].split("?")[0] + "?v=old")
        assert stale.headers["cache-control"] == "public, max-age=300"

    async def test_delete_in_use_is_409_then_allowed_when_unused(self, upload, api, admin):
        body = (await upload("a.pdf", pdf())).json()
        await self.publish(api, "doc-1", [body["id"]])
        r = await api.delete(f"/v1/media/{body['id']}", headers=admin)
        assert "doc-1" in assert_problem(r, 409, "media-in-use")["detail"]
        await self.publish(api, "doc-1", [], version=2)
        assert (await api.delete(f"/v1/media/{body['id']}", headers=admin)).status_code == 204
        assert_problem(await api.get(f"/v1/media/{body['id']}", headers=admin), 404)

    async def test_delete_removes_every_stored_object(self, upload, api, admin, storage):
        body = (await upload("a.jpg", image())).json()
        assert len(await storage.keys()) == 9  # original + 4 renditions x 2 formats
        assert (await api.delete(f"/v1/media/{body['id']}", headers=admin)).status_code == 204
        assert await storage.keys() == []

    async def test_drafts_count_as_use_too(self, upload, api, admin):
        body = (await upload("a.jpg", image())).json()
        await self.publish(api, "draft-1", [body["id"]], published=False)
        assert (await api.get(f"/v1/media/{body['id']}")).status_code == 404
        assert_problem(await api.delete(f"/v1/media/{body['id']}", headers=admin), 409)

    async def test_older_usage_versions_are_ignored(self, upload, api, editor):
        body = (await upload("a.jpg", image())).json()
        await self.publish(api, "item-9", [body["id"]], version=5)
        await self.publish(api, "item-9", [], version=3)
        meta = (await api.get(f"/v1/media/{body['id']}", headers=editor)).json()
        assert [u["item_id"] for u in meta["used_by"]] == ["item-9"]

    async def test_content_events(self, upload, api, editor):
        image_id = (await upload("a.jpg", image(), alt="Ảnh")).json()["id"]
        inline_id = (await upload("b.png", image("PNG"))).json()["id"]
        event = {
            "id": 1,
            "topic": "article.published",
            "key": "art-1",
            "version": 3,
            "payload": {
                "id": "art-1",
                "portal": "phu-yen",
                "featured_media": {"id": image_id, "caption": None, "credit": None, "url": ""},
                "body": f'<p><img src="/v1/media/{inline_id}/renditions/medium"></p>',
            },
        }
        assert (await api.post("/internal/events", json=event)).status_code == 204
        for media_id in (image_id, inline_id):
            assert (await api.get(f"/v1/media/{media_id}")).json()["public"] is True
        down = {**event, "topic": "article.unpublished", "version": 4}
        assert (await api.post("/internal/events", json=down)).status_code == 204
        assert (await api.get(f"/v1/media/{image_id}")).status_code == 404
        meta = (await api.get(f"/v1/media/{image_id}", headers=editor)).json()
        assert meta["used_by"] == [{"item_id": "art-1", "portal": "phu-yen", "published": False}]

    async def test_document_attachments_from_events(self, upload, api):
        file_id = (await upload("a.pdf", pdf())).json()["id"]
        event = {
            "topic": "document.published",
            "key": "doc-7",
            "version": 1,
            "payload": {"id": "doc-7", "portal": "phu-yen", "attachments": [file_id]},
        }
        assert (await api.post("/internal/events", json=event)).status_code == 204
        assert (await api.get(f"/v1/media/{file_id}/file")).status_code == 200

    @pytest.mark.parametrize(
        "event",
        [
            [1, 2],
            {"topic": "article.published", "payload": "x"},
            "nope",
            {"topic": "article.published", "version": 1, "payload": {"portal": "phu-yen"}},
            {"topic": "article.updated", "key": "a", "payload": {"portal": ""}},
            {"topic": "article.updated", "key": "a" * 65, "payload": {"portal": "phu-yen"}},
        ],
    )
    async def test_malformed_events_are_4xx(self, api, event):
        r = await api.post("/internal/events", json=event)
        assert 400 <= r.status_code < 500

    async def test_usage_item_ids_are_checked(self, api):
        body = {"portal": "phu-yen", "media_ids": []}
        assert_problem(await api.put(f"/internal/usage/{'a' * 65}", json=body), 422)
        assert_problem(await api.put("/internal/usage/a", json={**body, "media_ids": ["x y"]}), 422)

    async def test_pages_and_other_topics_are_acknowledged(self, api):
        r = await api.post("/internal/events", json={"topic": "portal.created", "payload": {}})
        assert r.status_code == 204

    async def test_internal_endpoints_need_the_token_when_set(self, api, media_settings):
        from pydantic import SecretStr

        media_settings.events_token = SecretStr("s3cret")
        body = {"portal": "phu-yen", "media_ids": [], "published": True}
        assert_problem(await api.put("/internal/usage/x", json=body), 401)
        ok = await api.put(
            "/internal/usage/x", json=body, headers={"Authorization": "Bearer s3cret"}
        )
        assert ok.status_code == 204
        assert_problem(await api.post("/internal/events", json={}), 401)


class TestMetadata:
    async def test_alt_text_makes_an_image_usable_as_featured(self, upload, api, editor):
        body = (await upload("a.jpg", image())).json()
        assert body["usable_as_featured"] is False
        r = await api.patch(
            f"/v1/media/{body['id']}",
            json={"alt": "Người dân làm thủ tục", "caption": "Ảnh: BHXH Phú Yên"},
            headers=editor,
        )
        assert r.json()["usable_as_featured"] is True
        assert r.json()["caption"] == "Ảnh: BHXH Phú Yên"
        r = await api.patch(f"/v1/media/{body['id']}", json={"alt": ""}, headers=editor)
        assert r.json()["alt"] is None
        assert r.json()["usable_as_featured"] is False
        assert r.json()["caption"] == "Ảnh: BHXH Phú Yên"  # absent fields are left alone

    async def test_documents_are_never_featured(self, upload):
        body = (await upload("a.pdf", pdf(), alt="Văn bản")).json()
        assert body["usable_as_featured"] is False

    @pytest.mark.parametrize(
        "change",
        [
            {"focal": {"x": 1.5, "y": 0}},
            {"focal": {"x": 0.5}},
            {"alt": "x" * 1001},
            {"caption": 5},
            {"portal": "ha-noi"},
            {"sha256": "0" * 64},
            {"credit": "BHXH\u0000"},
        ],
    )
    async def test_invalid_changes_are_422(self, upload, api, editor, change):
        body = (await upload("a.jpg", image())).json()
        r = await api.patch(f"/v1/media/{body['id']}", json=change, headers=editor)
        assert_problem(r, 422)

    async def test_list_a_portals_library(self, upload, api, editor, outsider):
        ids = [
            (await upload(f"{i}.png", image("PNG", (10 + i, 10)))).json()["id"] for i in range(3)
        ]
        await upload("a.pdf", pdf())
        page = (await api.get("/v1/media?portal=phu-yen&kind=image&limit=2", headers=editor)).json()
        assert [m["id"] for m in page["items"]] == ids[::-1][:2]
        rest = await api.get(
            f"/v1/media?portal=phu-yen&kind=image&limit=2&cursor={page['next_cursor']}",
            headers=editor,
        )
        assert [m["id"] for m in rest.json()["items"]] == [ids[0]]
        assert rest.json()["next_cursor"] is None
        await api.put(
            "/internal/usage/list-1",
            json={"portal": "phu-yen", "media_ids": [ids[2]], "published": True},
        )
        again = (await api.get("/v1/media?portal=phu-yen&kind=image", headers=editor)).json()
        assert [m["public"] for m in again["items"]] == [True, False, False]
        assert_problem(await api.get("/v1/media?portal=phu-yen", headers=outsider), 403)
        assert_problem(await api.get("/v1/media?portal=phu-yen"), 401)
        assert_problem(await api.get("/v1/media?portal=phu-yen&cursor=%%%", headers=editor), 400)
        naive = encode_cursor(["2026-11-22T02:00:00", "x"])
        r = await api.get(f"/v1/media?portal=phu-yen&cursor={naive}", headers=editor)
        assert_problem(r, 400, "invalid-cursor")

    async def test_the_upload_form_is_in_the_openapi_document(self, api):
        doc = (await api.get("/v1/openapi.json")).json()
        body = doc["paths"]["/v1/media"]["post"]["requestBody"]["content"]
        assert set(body["multipart/form-data"]["schema"]["required"]) == {"file", "portal"}


class TestTenancy:
    """Nothing of one portal reaches another portal's members, endpoint by endpoint."""

    async def test_another_portals_draft_media_is_invisible(self, upload, api, outsider):
        body = (await upload("a.jpg", image())).json()
        for url in (
            f"/v1/media/{body['id']}",
            body["url"],
            body["renditions"]["thumb"],
            f"/v1/media/{body['id']}/poster",
        ):
            assert_problem(await api.get(url, headers=outsider), 404)
        r = await api.patch(f"/v1/media/{body['id']}", json={"alt": "x"}, headers=outsider)
        assert_problem(r, 404)
        assert_problem(await api.delete(f"/v1/media/{body['id']}", headers=outsider), 404)

    async def test_another_portals_published_media_is_readable_not_writable(
        self, upload, api, outsider, token_for
    ):
        body = (await upload("a.jpg", image())).json()
        await api.put(
            "/internal/usage/x",
            json={"portal": "phu-yen", "media_ids": [body["id"]], "published": True},
        )
        meta = await api.get(f"/v1/media/{body['id']}", headers=outsider)
        assert meta.status_code == 200
        assert meta.json()["used_by"] is None
        r = await api.patch(f"/v1/media/{body['id']}", json={"alt": "x"}, headers=outsider)
        assert_problem(r, 403, "not-portal-member")
        other_admin = token_for({"ha-noi": "admin"})
        assert_problem(await api.delete(f"/v1/media/{body['id']}", headers=other_admin), 403)

    async def test_only_portal_admins_delete(self, upload, api, editor, admin, token_for):
        body = (await upload("a.jpg", image())).json()
        assert_problem(await api.delete(f"/v1/media/{body['id']}", headers=editor), 403)
        assert (await api.delete(f"/v1/media/{body['id']}", headers=admin)).status_code == 204
        body = (await upload("a.jpg", image())).json()
        root = token_for(superadmin=True)
        assert (await api.delete(f"/v1/media/{body['id']}", headers=root)).status_code == 204

    async def test_dedupe_never_crosses_portals(self, upload, api, token_for):
        data = image("PNG", (40, 40))
        mine = (await upload("a.png", data)).json()
        hanoi = token_for({"ha-noi": "editor"})
        theirs = await upload("a.png", data, portal="ha-noi", headers=hanoi)
        assert theirs.json()["portal"] == "ha-noi"
        assert theirs.json()["id"] != mine["id"]
        assert_problem(await api.get(f"/v1/media/{mine['id']}", headers=hanoi), 404)

    async def test_unknown_and_nul_ids(self, api, editor):
        assert_problem(await api.get("/v1/media/khong-co", headers=editor), 404, "not-found")
        missing = await api.get(f"/v1/media/{'0' * 32}", headers=editor)
        assert_problem(missing, 404, "media-not-found")
        assert_problem(await api.get("/v1/media/a%00b", headers=editor), 400)
