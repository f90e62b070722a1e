"""Usage is per portal (issue 10, finding 3): only items of an asset's own portal make it
public or keep it from being deleted. A `ha-noi` article linking a `phu-yen` draft asset
made it public (`Cache-Control: public, immutable`) and undeletable (`media-in-use`)."""

from __future__ import annotations

import pytest
from factories import assert_problem
from media_samples import image, pdf

YEAR = "public, max-age=31536000, immutable"


def article_event(item_id: str, portal: str, *, body: str = "", featured: str | None = None):
    return {
        "id": 1,
        "topic": "article.published",
        "key": item_id,
        "version": 1,
        "payload": {
            "id": item_id,
            "portal": portal,
            "featured_media": {"id": featured} if featured else None,
            "body": body,
        },
    }


async def assert_private_and_deletable(api, asset, *, admin, editor) -> None:
    for url in (f"/v1/media/{asset['id']}", asset["url"], asset["renditions"]["medium"]):
        assert_problem(await api.get(url), 404)  # anonymous: a draft does not exist
    own = await api.get(asset["url"], headers=editor)
    assert own.status_code == 200
    assert own.headers["cache-control"] == "private, no-cache"
    meta = (await api.get(f"/v1/media/{asset['id']}", headers=editor)).json()
    assert meta["public"] is False
    assert meta["used_by"] == []
    assert (await api.delete(f"/v1/media/{asset['id']}", headers=admin)).status_code == 204


class TestAnotherPortalsItems:
    async def test_a_published_article_of_another_portal_does_not_publish_a_draft_asset(
        self, upload, api, editor, admin
    ):
        asset = (await upload("a.jpg", image(), alt="Trụ sở BHXH Phú Yên")).json()
        body = f'<p><img src="/v1/media/{asset["id"]}/file"></p>'
        r = await api.post("/internal/events", json=article_event("hn-1", "ha-noi", body=body))
        assert r.status_code == 204
        await assert_private_and_deletable(api, asset, admin=admin, editor=editor)

    async def test_nor_as_its_featured_image_nor_through_the_usage_call(
        self, upload, api, editor, admin
    ):
        asset = (await upload("a.jpg", image(), alt="Ảnh")).json()
        event = article_event("hn-2", "ha-noi", featured=asset["id"])
        assert (await api.post("/internal/events", json=event)).status_code == 204
        r = await api.put(
            "/internal/usage/hn-3",
            json={"portal": "ha-noi", "media_ids": [asset["id"]], "published": True, "version": 1},
        )
        assert r.status_code == 204
        listed = (await api.get("/v1/media?portal=phu-yen", headers=editor)).json()["items"]
        assert [a["public"] for a in listed] == [False]
        await assert_private_and_deletable(api, asset, admin=admin, editor=editor)

    async def test_another_portals_draft_item_does_not_block_deletion(self, upload, api, admin):
        asset = (await upload("a.pdf", pdf())).json()
        r = await api.put(
            "/internal/usage/hn-4",
            json={"portal": "ha-noi", "media_ids": [asset["id"]], "published": False},
        )
        assert r.status_code == 204
        assert (await api.delete(f"/v1/media/{asset['id']}", headers=admin)).status_code == 204

    @pytest.mark.parametrize("link", ["/file", "/renditions/medium", ""])
    async def test_the_own_portals_article_still_makes_it_public(self, upload, api, admin, link):
        asset = (await upload("a.jpg", image(), alt="Ảnh")).json()
        body = f'<img src="https://cong.baohiemxahoi.gov.vn/v1/media/{asset["id"]}{link}">'
        event = article_event("py-1", "phu-yen", body=body)
        assert (await api.post("/internal/events", json=event)).status_code == 204
        f = await api.get(asset["url"])
        assert f.status_code == 200
        assert f.headers["cache-control"] == YEAR
        r = await api.delete(f"/v1/media/{asset['id']}", headers=admin)
        assert "py-1" in assert_problem(r, 409, "media-in-use")["detail"]

    async def test_both_portals_link_it_only_the_own_one_counts(self, upload, api, editor):
        asset = (await upload("a.jpg", image(), alt="Ảnh")).json()
        link = f'<img src="/v1/media/{asset["id"]}/file">'
        for item, portal in (("hn-5", "ha-noi"), ("py-2", "phu-yen")):
            event = article_event(item, portal, body=link)
            assert (await api.post("/internal/events", json=event)).status_code == 204
        meta = (await api.get(f"/v1/media/{asset['id']}", headers=editor)).json()
        assert meta["public"] is True
        assert [u["item_id"] for u in meta["used_by"]] == ["py-2"]


class TestEventsNeverStopTheStream:
    """A refused event is retried forever by content's relay and holds back every later
    one, so what an author can put in a body must never make media refuse the event."""

    async def test_a_body_naming_hundreds_of_media_is_accepted(self, upload, api):
        asset = (await upload("a.jpg", image(), alt="Ảnh")).json()
        noise = "".join(f"<p>/v1/media/{i:032x}/file</p>" for i in range(1500))
        body = f'<img src="/v1/%6Dedia/{asset["id"]}/file">{noise}'
        event = article_event("py-3", "phu-yen", body=body)
        event["payload"]["attachments"] = ["x y", "", "ok-id"]
        assert (await api.post("/internal/events", json=event)).status_code == 204
        f = await api.get(asset["url"])  # the escaped link counts, first in the body
        assert f.status_code == 200
        assert f.headers["cache-control"] == YEAR
