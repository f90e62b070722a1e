"""The distributed platform end to end: real `portal serve` processes, only the gateway in front.

A newsroom is built and an article walks draft → in review → published through the gateway
alone, then a reader gets it, revalidates it and checks its token against the JWKS.
"""

from __future__ import annotations

import io
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from factories import good_article
from PIL import Image

from services.common.security import TokenVerifier, key_id

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SERVICES = ("content", "search", "media", "analytics")
PASSWORD = "mật khẩu biên tập viên"


def token(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    r = http.post("/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == f"https://portal.gov.vn/problems/{slug}"
    return problem


def until(get, ok, seconds: float = 5.0):
    """`get()` again until `ok` holds of it or time is up; the last result either way."""
    deadline = time.monotonic() + seconds
    while True:
        result = get()
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def logged(process, request_id: str) -> list[dict]:
    """The access log lines of `request_id` (written just after the response is sent)."""
    return until(
        lambda: [e for e in process.log_entries() if e.get("request_id") == request_id], bool
    )


@pytest.fixture
def newsroom(http: httpx.Client, superadmin):
    """A new provincial portal with a category and a contributor, editor and approver, all
    created through the gateway by the superadmin seeded in the database."""
    admin = token(http, *superadmin)
    portal = f"e2e-{uuid.uuid4().hex[:8]}"
    r = http.post(
        "/v1/portals", json={"id": portal, "name": "Bảo hiểm xã hội tỉnh E2E"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = http.post(f"/v1/portals/{portal}/categories", json={"name": "Tin tức"}, headers=admin)
    assert r.status_code == 201, r.text
    category_id = r.json()["id"]
    people = {}
    for role in ("contributor", "editor", "approver"):
        username = f"{portal}.{role}"
        r = http.post(
            "/v1/users",
            json={"username": username, "password": PASSWORD, "full_name": f"Người {role}"},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        r = http.put(f"/v1/portals/{portal}/members/{user_id}", json={"role": role}, headers=admin)
        assert r.status_code == 200, r.text
        people[role] = token(http, username, PASSWORD)
    return portal, category_id, people


@pytest.fixture
def photo(http: httpx.Client, newsroom) -> str:
    """An image with alt text in the newsroom's media library (content checks a featured
    image with media at submit): its id."""
    portal, _, people = newsroom
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 90, 160)).save(buffer, "JPEG")
    r = http.post(
        "/v1/media",
        data={"portal": portal, "alt": "Quang cảnh hội nghị tập huấn"},
        files={"file": ("hoi-nghi.jpg", buffer.getvalue(), "image/jpeg")},
        headers=people["contributor"],
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


class TestOperations:
    def test_every_service_is_ready_through_the_gateway(self, http):
        r = http.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok", "checks": dict.fromkeys(SERVICES, "ok")}
        assert http.get("/healthz").json() == {"status": "ok"}

    def test_each_service_answers_on_its_own(self, platform):
        for name, process in platform.services.items():
            r = httpx.get(process.url + "/readyz", timeout=5)
            assert r.status_code == 200, f"{name}: {r.text}"
        checks = httpx.get(platform.services["content"].url + "/readyz", timeout=5).json()
        assert checks["checks"]["database"] == "ok"

    def test_openapi_is_merged_from_the_services_over_http(self, http):
        doc = http.get("/v1/openapi.json").json()
        assert {"get", "post"} <= set(doc["paths"]["/v1/portals/{portal}/articles"])
        assert "/v1/auth/jwks.json" in doc["paths"]
        assert {"ArticleCreate", "ArticleRead"} <= set(doc["components"]["schemas"])
        docs = http.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")

    def test_metrics_of_gateway_and_content(self, http, platform):
        assert http.get("/v1/portals").status_code == 200
        # A request is counted just after its response is sent: poll briefly.
        gateway = until(
            lambda: http.get("/metrics"), lambda r: 'route="upstream:content"' in r.text
        )
        assert 'route="upstream:content"' in gateway.text
        assert gateway.text.count("# TYPE http_requests_total counter") == 1
        content = until(
            lambda: httpx.get(platform.services["content"].url + "/metrics", timeout=5),
            lambda r: 'route="/v1/portals"' in r.text,
        )
        assert 'http_requests_total{method="GET",route="/v1/portals",service="content"' in (
            content.text
        )

    def test_unreachable_service_is_reported_precisely(self, launcher, platform):
        """A gateway whose search URL points at nothing: 503 naming it, 502 for its paths."""
        others = {n: p for n, p in platform.services.items() if n != "search"}
        gateway = launcher.spawn(
            "gateway",
            {
                "GATEWAY_SEARCH_URL": "http://127.0.0.1:9",  # discard port: nothing listens
                **{f"GATEWAY_{name.upper()}_URL": p.url for name, p in others.items()},
            },
        )
        try:
            launcher.wait_healthy(gateway)
            with httpx.Client(base_url=gateway.url, timeout=15) as http:
                ready = http.get("/readyz")
                problem = assert_problem(ready, 503, "not-ready")
                assert problem["checks"] == {
                    "content": "ok",
                    "search": "unreachable: ConnectError",
                    "media": "ok",
                    "analytics": "ok",
                }
                r = http.get("/v1/search/articles?q=bhxh", headers={"Accept-Language": "en"})
                assert_problem(r, 502, "bad-gateway")
                assert http.get("/v1/portals").status_code == 200  # the others still work
        finally:
            gateway.stop()


class TestEditorialFlow:
    def test_article_goes_from_draft_to_readers(self, http, newsroom, platform, photo):
        portal, category_id, people = newsroom
        base = f"/v1/portals/{portal}/articles"
        r = http.post(
            base,
            json=good_article(
                category_id, title="Phú Yên chi trả bảo hiểm thất nghiệp", featured_media_id=photo
            ),
            headers={**people["contributor"], "X-Request-ID": f"e2e-create-{portal}"},
        )
        assert r.status_code == 201, r.text
        article = r.json()
        assert article["status"] == "draft"
        assert article["slug"] == "phu-yen-chi-tra-bao-hiem-that-nghiep"
        # The id the client chose is the one the content process logged for its request.
        assert r.headers["x-request-id"] == f"e2e-create-{portal}"
        lines = logged(platform.services["content"], f"e2e-create-{portal}")
        assert [(e["service"], e["method"], e["status"]) for e in lines] == [
            ("content", "POST", 201)
        ]

        # Nobody but staff sees a draft.
        assert http.get(f"{base}/{article['id']}").status_code == 404

        for action, who, status in (
            ("submit", "contributor", "in_review"),
            ("forward", "editor", "in_review"),
            ("publish", "approver", "published"),
        ):
            r = http.post(
                f"{base}/{article['id']}/transitions",
                json={"action": action},
                headers=people[who],
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == status

        public = http.get(f"{base}/{article['id']}")
        assert public.status_code == 200
        assert public.json()["title"] == "Phú Yên chi trả bảo hiểm thất nghiệp"
        assert public.json()["status"] == "published"
        assert "public" in public.headers["cache-control"]
        assert len(public.headers.get_list("date")) == 1
        assert public.headers.get_list("server") == ["uvicorn"]

        etag = public.headers["etag"]
        again = http.get(f"{base}/{article['id']}", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag

        by_slug = http.get(f"{base}/by-slug/{article['slug']}")
        assert by_slug.json()["id"] == article["id"]
        listing = http.get(base)
        assert [a["id"] for a in listing.json()["items"]] == [article["id"]]

        history = http.get(f"{base}/{article['id']}/history", headers=people["editor"])
        assert [h["action"] for h in history.json()["items"]] == ["submit", "forward", "publish"]

    def test_wrong_role_and_bad_input_are_problems(self, http, newsroom):
        portal, category_id, people = newsroom
        base = f"/v1/portals/{portal}/articles"
        r = http.post(base, json=good_article(category_id), headers=people["contributor"])
        url = f"{base}/{r.json()['id']}/transitions"
        r = http.post(url, json={"action": "publish"}, headers=people["approver"])
        assert_problem(r, 409, "transition-not-allowed")
        r = http.post(url, json={"action": "fly"}, headers=people["contributor"])
        assert_problem(r, 422, "validation-error")
        r = http.post(
            base,
            content=b"{not json",
            headers={**people["contributor"], "Content-Type": "application/json"},
        )
        assert_problem(r, 422, "validation-error")
        assert_problem(http.get("/v1/me"), 401, "unauthorized")
        assert_problem(http.get("/nope"), 404, "not-found")
        r = http.get(f"/v1/portals/{portal}/documents/by-slug/3216%2FBHXH-TT")
        assert_problem(r, 404, "not-found")


class TestTokens:
    async def test_jwks_verifies_tokens_issued_through_the_gateway(
        self, http, platform, superadmin
    ):
        username, password = superadmin
        headers = token(http, username, password)
        r = http.get("/v1/auth/jwks.json")
        assert r.status_code == 200
        assert "public" in r.headers["cache-control"]
        (jwk,) = r.json()["keys"]
        assert {k: jwk[k] for k in ("kty", "crv", "alg", "use")} == {
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
        }
        # The content process made its signing key in its own data directory.
        pem = (platform.content_data_dir / "keys" / "signing.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        assert jwk["kid"] == key_id(key.public_key())

        # What every other service is meant to do: trust the key set served at the JWKS URL.
        verifier = TokenVerifier(
            issuer="portal-platform",
            audience="portal-api",
            jwks_url=platform.url + "/v1/auth/jwks.json",
        )
        principal = await verifier.verify(headers["Authorization"].removeprefix("Bearer "))
        assert principal.username == username
        assert principal.is_superadmin is True

        me = http.get("/v1/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["username"] == username

    def test_wrong_password_is_401(self, http, superadmin):
        r = http.post(
            "/v1/auth/token", json={"username": superadmin[0], "password": "sai mật khẩu"}
        )
        assert_problem(r, 401, "invalid-credentials")


class TestSearch:
    def test_published_article_is_found_then_gone_after_unpublish(self, http, newsroom, photo):
        portal, category_id, people = newsroom
        title = "Chi trả trợ cấp thất nghiệp cho người lao động"
        base = f"/v1/portals/{portal}/articles"
        r = http.post(
            base,
            json=good_article(category_id, title=title, featured_media_id=photo),
            headers=people["editor"],
        )
        article = r.json()
        for action, who in (("submit", "editor"), ("forward", "editor"), ("publish", "approver")):
            r = http.post(
                f"{base}/{article['id']}/transitions", json={"action": action}, headers=people[who]
            )
            assert r.status_code == 200, r.text

        def search() -> dict:
            return http.get(
                "/v1/search", params={"q": "tro cap that nghiep", "portal": portal}
            ).json()

        found = until(search, lambda body: body["total"] == 1, seconds=15)
        assert [h["title"] for h in found["hits"]] == [title]
        assert "<mark>" in found["hits"][0]["title_highlighted"]

        r = http.post(
            f"{base}/{article['id']}/transitions",
            json={"action": "unpublish", "comment": "Sai số liệu"},
            headers=people["approver"],
        )
        assert r.status_code == 200, r.text
        gone = until(search, lambda body: body["total"] == 0, seconds=15)
        assert gone["total"] == 0

    def test_reindex_through_the_gateway(self, http, superadmin, newsroom):
        admin = token(http, *superadmin)
        r = http.post("/v1/search/admin/reindex", headers=admin)
        assert r.status_code == 202, r.text
        job = until(
            lambda: http.get("/v1/search/admin/jobs", headers=admin).json(),
            lambda body: body["state"] != "running",
            seconds=30,
        )
        assert job["state"] == "done", job
        editor = newsroom[2]["editor"]
        assert http.post("/v1/search/admin/reindex", headers=editor).status_code == 403


BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


class TestAnalytics:
    def test_a_beacon_through_the_gateway_is_counted_by_the_writer_process(
        self, http, newsroom, superadmin
    ):
        portal, _, _ = newsroom
        page = {"portal": portal, "url": f"https://{portal}.example.gov.vn/tin-tuc"}
        for headers in ({"User-Agent": BROWSER}, {"User-Agent": "curl/8.5.0"}):
            r = http.post("/v1/analytics/events", json=page, headers=headers)
            assert r.status_code == 202, r.text
        r = http.post("/v1/analytics/events", json={**page, "portal": "khong-co"})
        assert_problem(r, 422, "unknown-portal")
        admin = token(http, *superadmin)
        stats = until(
            lambda: http.get(f"/v1/analytics/portals/{portal}/stats", headers=admin),
            lambda r: r.status_code == 200 and r.json()["pageviews"] == 1,
            seconds=15,
        )
        assert stats.status_code == 200, stats.text
        assert (stats.json()["pageviews"], stats.json()["visitors"]) == (1, 1)
        bots = http.get(f"/v1/analytics/portals/{portal}/bots", headers=admin)
        assert bots.status_code == 200, bots.text
        assert "crawler" in bots.text


class TestFreshRoles:
    def test_a_removed_member_is_refused_by_media_and_analytics_within_five_seconds(
        self, http, newsroom, superadmin
    ):
        """Each service its own process: media and analytics ask content over HTTP."""
        portal, _, people = newsroom
        admin = token(http, *superadmin)
        editor = people["editor"]
        library = f"/v1/media?portal={portal}"
        stats = f"/v1/analytics/portals/{portal}/stats"
        assert http.get(library, headers=editor).status_code == 200
        assert http.get(stats, headers=editor).status_code == 200
        me = http.get("/v1/me", headers=editor).json()
        r = http.delete(f"/v1/portals/{portal}/members/{me['id']}", headers=admin)
        assert r.status_code == 204, r.text
        removed_at = time.monotonic()
        for path in (library, stats):
            r = until(lambda p=path: http.get(p, headers=editor), lambda r: r.status_code == 403)
            assert r.status_code == 403, f"{path}: {r.text}"
        assert time.monotonic() - removed_at < 5.5
        r = http.post(
            "/v1/media",
            data={"portal": "khong-ton-tai"},
            files={"file": ("a.jpg", b"\xff\xd8\xff\xe0", "image/jpeg")},
            headers=admin,
        )
        assert_problem(r, 404, "portal-not-found")
