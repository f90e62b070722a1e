"""The gateway in embedded mode: routing, request ids, CORS, OpenAPI, health, metrics, problems.

Every service is mounted in-process, content on the test's PostgreSQL database. Which service
answered a request is read from the access log each app writes (`portal.access`, with the
service's name and the request id), so a test fails if the gateway routes to the wrong one.
"""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest
from factories import good_article
from prometheus_client.parser import text_string_to_metric_families

from services.common.app import service_app
from services.common.observability import MetricsAccess

pytestmark = pytest.mark.postgres

EN = {"Accept-Language": "en"}
SCRAPER = {"Authorization": "Bearer test-scrape-token"}  # the `gateway` fixture's token
ORIGIN = "https://phuyen.baohiemxahoi.gov.vn"


@pytest.fixture
def access_log(caplog):
    """The access log lines (one per app a request passed through), as (service, request id)."""
    caplog.set_level(logging.INFO, logger="portal.access")

    def lines(request_id: str | None = None) -> list[tuple[str, str]]:
        found = [
            (r.service, r.request_id)
            for r in caplog.records
            if r.name == "portal.access" and getattr(r, "service", None)
        ]
        return [f for f in found if request_id is None or f[1] == request_id]

    return lines


def services_of(lines: list[tuple[str, str]]) -> set[str]:
    return {service for service, _ in lines}


def assert_problem(r: httpx.Response, status: int, slug: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status
    assert problem["type"] == f"https://portal.gov.vn/problems/{slug}"
    return problem


async def publish(gw: httpx.AsyncClient, people, category_id: str) -> dict:
    base = "/v1/portals/phu-yen/articles"
    r = await gw.post(base, json=good_article(category_id), headers=people["contributor"].headers)
    assert r.status_code == 201, r.text
    article = r.json()
    for action, who in (("submit", "contributor"), ("forward", "editor"), ("publish", "approver")):
        r = await gw.post(
            f"{base}/{article['id']}/transitions",
            json={"action": action},
            headers=people[who].headers,
        )
        assert r.status_code == 200, r.text
    return r.json()


class TestRouting:
    async def test_portals_are_answered_by_content(self, gw, newsroom, access_log):
        r = await gw.get("/v1/portals")
        assert r.status_code == 200
        assert [p["id"] for p in r.json()["items"]] == ["phu-yen"]
        assert services_of(access_log(r.headers["x-request-id"])) == {"gateway", "content"}

    @pytest.mark.parametrize(
        ("path", "service"),
        [
            ("/v1/search/nothing-here", "search"),
            ("/v1/search/nothing?q=b%E1%BA%A3o+hi%E1%BB%83m", "search"),
            ("/v1/media/nothing/here", "media"),  # /v1/media/{id} checks the id itself
            ("/v1/analytics/nothing-here", "analytics"),
            ("/v1/searchlight", "content"),  # a prefix matches whole segments only
            ("/v1/mediatheque", "content"),
        ],
    )
    async def test_prefix_decides_the_service(self, gw, access_log, path, service):
        r = await gw.get(path, headers=EN)
        # The owning service itself answers 404 (its words, not the gateway's).
        problem = assert_problem(r, 404, "not-found")
        assert problem["detail"] == "Nothing exists at this address."
        assert services_of(access_log(r.headers["x-request-id"])) == {"gateway", service}

    async def test_search_root_is_answered_by_search(self, gw, access_log):
        r = await gw.get("/v1/search", headers=EN)
        assert r.status_code == 200
        assert set(r.json()) >= {"hits", "total", "facets", "took_ms"}
        assert services_of(access_log(r.headers["x-request-id"])) == {"gateway", "search"}
        r = await gw.get("/v1/search?colour=red", headers=EN)
        assert_problem(r, 400, "unknown-parameter")

    async def test_unknown_path_is_the_gateways_own_404(self, gw, access_log):
        r = await gw.get("/nope", headers=EN)
        problem = assert_problem(r, 404, "not-found")
        assert problem["detail"] == "There is no API at /nope; see /docs."
        assert problem["request_id"] == r.headers["x-request-id"]
        assert services_of(access_log(r.headers["x-request-id"])) == {"gateway"}

    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD"])
    async def test_unknown_path_is_404_for_every_method(self, gw, method):
        r = await gw.request(method, "/nope/deeper", headers=EN)
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"

    async def test_v1_alone_is_not_a_service(self, gw, access_log):
        r = await gw.get("/v1", headers=EN)
        assert_problem(r, 404, "not-found")
        assert services_of(access_log(r.headers["x-request-id"])) == {"gateway"}


class TestRequestId:
    async def test_generated_when_absent_and_the_service_gets_the_same(self, gw, access_log):
        first = await gw.get("/v1/portals/phu-yen", headers=EN)
        second = await gw.get("/v1/portals/phu-yen", headers=EN)
        rid = first.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
        assert second.headers["x-request-id"] != rid
        assert sorted(access_log(rid)) == [("content", rid), ("gateway", rid)]
        # The service wrote the problem, and names the gateway's id in it.
        assert assert_problem(first, 404, "not-found")["request_id"] == rid

    async def test_given_id_is_echoed_and_reaches_the_service(self, gw, access_log):
        r = await gw.get("/v1/portals/khong-co", headers={"X-Request-ID": "trace-phu-yen-42"})
        assert r.headers["x-request-id"] == "trace-phu-yen-42"
        assert r.headers.get_list("x-request-id") == ["trace-phu-yen-42"]
        assert r.json()["request_id"] == "trace-phu-yen-42"
        assert sorted(access_log("trace-phu-yen-42")) == [
            ("content", "trace-phu-yen-42"),
            ("gateway", "trace-phu-yen-42"),
        ]

    async def test_given_id_reaches_a_successful_read(self, gw, newsroom, access_log):
        r = await gw.get("/v1/portals", headers={"X-Request-ID": "doc-3216-BHXH-TT"})
        assert r.status_code == 200
        assert r.headers["x-request-id"] == "doc-3216-BHXH-TT"
        assert services_of(access_log("doc-3216-BHXH-TT")) == {"gateway", "content"}

    @pytest.mark.parametrize("bad", ["x" * 129, "", "   "])
    async def test_unusable_id_is_replaced(self, gw, access_log, bad):
        r = await gw.get("/v1/portals", headers={"X-Request-ID": bad})
        assert r.status_code == 200
        rid = r.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
        assert services_of(access_log(rid)) == {"gateway", "content"}


class TestCors:
    async def test_preflight_is_answered_by_the_gateway(self, gw, access_log):
        r = await gw.options(
            "/v1/portals/phu-yen/articles",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, x-request-id",
            },
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        assert "POST" in r.headers["access-control-allow-methods"]
        allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
        assert {"authorization", "content-type", "x-request-id", "if-none-match"} <= allowed
        assert r.headers["access-control-max-age"] == "600"
        assert services_of(access_log(r.headers["x-request-id"])) == {"gateway"}

    async def test_public_get_is_readable_cross_origin(self, gw, newsroom):
        r = await gw.get("/v1/portals", headers={"Origin": ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
        assert {"etag", "x-request-id"} <= exposed
        assert "access-control-allow-credentials" not in r.headers

    async def test_refused_preflight_is_a_problem(self, gw):
        r = await gw.options(
            "/v1/portals",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-not-allowed",
                **EN,
            },
        )
        problem = assert_problem(r, 400, "cors-refused")
        assert problem["detail"] == "The CORS preflight was refused: headers not allowed."
        assert r.headers["access-control-allow-origin"] == "*"

    async def test_configured_origins_only(self, make_gateway, services):
        app = await make_gateway(services, cors_origins=[ORIGIN])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            allowed = await http.get("/healthz", headers={"Origin": ORIGIN})
            other = await http.get("/healthz", headers={"Origin": "https://evil.example"})
            preflight = await http.options(
                "/v1/portals",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
            )
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "access-control-allow-origin" not in other.headers
        assert_problem(preflight, 400, "cors-refused")


class TestOpenApi:
    async def test_one_merged_document(self, gw):
        r = await gw.get("/v1/openapi.json")
        assert r.status_code == 200
        doc = r.json()
        assert doc["openapi"].startswith("3.")
        assert doc["info"]["title"] == "Portal Platform API"
        articles = doc["paths"]["/v1/portals/{portal}/articles"]
        assert {"get", "post"} <= set(articles)
        assert {"/v1/auth/token", "/v1/auth/jwks.json", "/v1/portals"} <= set(doc["paths"])
        assert all(path.startswith("/v1/") for path in doc["paths"]), "no health endpoints"
        assert {"ArticleCreate", "ArticleRead", "PortalRead"} <= set(doc["components"]["schemas"])
        assert "articles" in {tag["name"] for tag in doc["tags"]}

    async def test_every_reference_resolves_and_operation_ids_are_unique(self, gw):
        doc = (await gw.get("/v1/openapi.json")).json()
        refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
        assert refs
        assert refs <= set(doc["components"]["schemas"])
        ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
        assert len(ids) == len(set(ids))

    async def test_docs_page_points_at_the_merged_document(self, gw):
        r = await gw.get("/docs")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "/v1/openapi.json" in r.text
        assert "swagger-ui" in r.text

    async def test_docs_work_without_the_internet(self, gw):
        page = (await gw.get("/docs")).text
        assert "cdn" not in page.lower()
        assert "https://" not in page
        scripts = re.findall(r'<script src="([^"]+)"', page)
        styles = re.findall(r'<link type="text/css" rel="stylesheet" href="([^"]+)"', page)
        assert scripts
        assert styles
        for url in scripts + styles:
            asset = await gw.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 10_000, url


class TestHealth:
    async def test_healthz(self, gw):
        r = await gw.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}
        assert (await gw.head("/healthz")).status_code == 200

    async def test_readyz_asks_every_service(self, gw, access_log):
        r = await gw.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {
            "status": "ok",
            "checks": {"content": "ok", "search": "ok", "media": "ok", "analytics": "ok"},
        }
        assert services_of(access_log()) == {"gateway", "content", "search", "media", "analytics"}

    async def test_readyz_is_503_when_a_service_is_not_ready(self, make_gateway, services):
        async def index_down() -> None:
            raise ConnectionError("index unreachable")

        broken_search = service_app(
            name="search", title="search", description="", readiness={"index": index_down}
        )
        app = await make_gateway({**services, "search": broken_search})
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            r = await http.get("/readyz")
        problem = assert_problem(r, 503, "not-ready")
        assert problem["checks"] == {
            "content": "ok",
            "search": "status 503",
            "media": "ok",
            "analytics": "ok",
        }


class TestMetrics:
    async def test_prometheus_text_for_gateway_and_services(self, gw, newsroom):
        assert (await gw.get("/v1/portals")).status_code == 200
        assert (await gw.get("/nope")).status_code == 404
        r = await gw.get("/metrics", headers=SCRAPER)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=")
        # One family per name: a scraper rejects a second TYPE line for the same metric.
        assert r.text.count("# TYPE http_requests_total counter") == 1
        assert r.text.count("# TYPE http_request_duration_seconds histogram") == 1
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        requests = {
            (s.labels["service"], s.labels["route"], s.labels["status"]): s.value
            for s in families["http_requests"].samples
            if s.name == "http_requests_total"
        }
        assert requests[("content", "/v1/portals", "200")] == 1
        # The gateway counts a forwarded request under the route the service matched.
        assert requests[("gateway", "/v1/portals", "200")] == 1
        assert requests[("gateway", "/{path:path}", "404")] == 1
        assert {"gateway", "content", "search", "media", "analytics"} >= {
            service for service, _, _ in requests
        }

    async def test_head_is_allowed(self, gw):
        assert (await gw.head("/metrics", headers=SCRAPER)).status_code == 200

    async def test_a_wrong_token_is_401(self, gw):
        r = await gw.get("/metrics", headers={"Authorization": "Bearer guess"})
        assert_problem(r, 401, "unauthorized")
        assert "http_requests_total" not in r.text

    async def test_without_a_token_loopback_only(self, make_gateway, services):
        app = await make_gateway(services, metrics_access=MetricsAccess())
        for peer, status in ((("203.0.113.9", 50123), 403), (("127.0.0.1", 50123), 200)):
            transport = httpx.ASGITransport(app=app, client=peer)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                assert (await http.get("/metrics")).status_code == status


class TestProblemsPassThrough:
    async def test_422_from_content_is_unchanged(self, gw, services, newsroom):
        _, people = newsroom
        request = {
            "url": "/v1/portals/phu-yen/articles",
            "json": {"title": "", "tags": "x"},
            "headers": {**people["contributor"].headers, "X-Request-ID": "same-id", **EN},
        }
        through_gateway = await gw.post(**request)
        transport = httpx.ASGITransport(app=services["content"])
        async with httpx.AsyncClient(transport=transport, base_url="http://content") as direct:
            from_content = await direct.post(**request)
        problem = assert_problem(through_gateway, 422, "validation-error")
        assert {"title", "tags"} <= {e["field"] for e in problem["errors"]}
        assert through_gateway.content == from_content.content
        assert through_gateway.headers["content-language"] == "en"

    async def test_bad_token_is_401_with_challenge(self, gw):
        r = await gw.get("/v1/me", headers={"Authorization": "Bearer not.a.token"})
        assert_problem(r, 401, "invalid-token")
        assert r.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize(
        "body",
        [b"{not json", b"\xff\xfe", b'{"username": 1, "password": []}', b"[]"],
    )
    async def test_bad_input_is_a_4xx_problem(self, gw, body):
        r = await gw.post(
            "/v1/auth/token", content=body, headers={"Content-Type": "application/json"}
        )
        assert 400 <= r.status_code < 500
        assert r.headers["content-type"] == "application/problem+json"


class TestPublicReads:
    async def test_etag_and_304_pass_through(self, gw, newsroom):
        category, people = newsroom
        article = await publish(gw, people, category.id)
        url = f"/v1/portals/phu-yen/articles/{article['id']}"
        r = await gw.get(url)
        assert r.status_code == 200
        assert r.json()["status"] == "published"
        assert "public" in r.headers["cache-control"]
        again = await gw.get(url, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == r.headers["etag"]
