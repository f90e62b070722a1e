"""Problem details: every error a service returns is RFC 9457 JSON in the caller's language."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from services.common.app import service_app
from services.common.errors import Conflict
from services.common.i18n import Msg


class Body(BaseModel):
    title: str = Field(min_length=10)
    tags: list[str] = Field(max_length=2)


def app_under_test() -> FastAPI:
    app = service_app(name="t", title="t", description="t")

    @app.post("/things")
    async def create(body: Body) -> dict[str, str]:
        return {"ok": body.title}

    @app.post("/conflict")
    async def conflict() -> None:
        raise Conflict(Msg("Đã tồn tại.", "Already exists."))

    @app.post("/race")
    async def race() -> None:
        raise IntegrityError("INSERT …", {}, Exception("duplicate key"))

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("boom")

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=app_under_test(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


class TestProblems:
    async def test_validation_errors_list_every_field_with_numbers(self, client):
        r = await client.post("/things", json={"title": "ngắn", "tags": ["a", "b", "c"]})
        assert r.status_code == 422
        assert r.headers["content-type"] == "application/problem+json"
        errors = {e["field"]: e["message"] for e in r.json()["errors"]}
        assert errors == {
            "title": "Cần ít nhất 10 ký tự.",
            "tags": "Không được quá 2 phần tử.",
        }

    async def test_english_on_request(self, client):
        r = await client.post(
            "/things", json={"title": "short", "tags": []}, headers={"Accept-Language": "en"}
        )
        assert r.json()["errors"][0]["message"] == "Needs at least 10 characters."
        assert r.headers["content-language"] == "en"

    async def test_domain_errors_carry_their_status_and_type(self, client):
        r = await client.post("/conflict", headers={"Accept-Language": "en-US,en;q=0.9"})
        assert r.status_code == 409
        assert r.json()["type"].endswith("/conflict")
        assert r.json()["detail"] == "Already exists."

    async def test_a_constraint_that_fires_is_a_409_not_a_500(self, client):
        r = await client.post("/race")
        assert r.status_code == 409
        assert r.json()["type"].endswith("/concurrent-change")

    async def test_unknown_path_and_method(self, client):
        assert (await client.get("/nothing")).status_code == 404
        r = await client.get("/things")
        assert r.status_code == 405
        assert r.headers["content-type"] == "application/problem+json"

    async def test_a_bug_is_a_500_problem_naming_the_request(self, client):
        r = await client.get("/bug", headers={"X-Request-ID": "req-42"})
        assert r.status_code == 500
        assert r.json()["request_id"] == "req-42"
        assert "boom" not in r.text
