"""The Meilisearch backend's pure pieces: filters, records, keys, highlights, settings.

These run everywhere. Whether Meilisearch then behaves as the contract says is proven by
the shared contract suite against a real server (`MEILI_URL=… make test`); nothing here
imitates Meilisearch. The one `MockTransport` test only records the requests `open()` sends.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import httpx2
import pytest
from meilisearch_python_sdk._client import _async_client
from meilisearch_python_sdk.errors import MeilisearchTimeoutError
from meilisearch_python_sdk.models.task import TaskResult

from services.search.backends import meili
from services.search.backends.meili import (
    DISPLAYED,
    POST,
    PRE,
    RETRIEVED,
    SEARCHABLE,
    MeiliBackend,
    MeiliError,
    decode_key,
    encode_key,
    facet_counts,
    index_settings,
    mark,
    query_text,
    quote,
    to_filter,
    to_hit,
    to_record,
)
from services.search.model import FACETS, DocType, Filters, SearchDocument


def make_document(**overrides) -> SearchDocument:
    fields = {
        "key": "document:ab12",
        "id": "ab12",
        "type": DocType.DOCUMENT,
        "portal": "phu-yen",
        "title": "Hướng dẫn đóng bảo hiểm xã hội",
        "url": "/v1/portals/phu-yen/documents/ab12",
        "published_at": datetime(2024, 5, 1, 8, 30, tzinfo=UTC),
        "version": 3,
        "lead": "Công văn hướng dẫn thu BHXH.",
        "body": "Nội dung chi tiết.",
        "category": "van-ban",
        "tags": ("bhxh",),
        "number": "3216/BHXH-TT",
        "doc_type": "Công văn",
        "issuer": "Bảo hiểm xã hội Việt Nam",
        "year": 2024,
    }
    fields.update(overrides)
    return SearchDocument(**fields)


class TestToFilter:
    def test_no_constraint_is_none(self):
        assert to_filter(Filters()) is None

    def test_one_value_is_an_equality(self):
        assert to_filter(Filters(portal=("phu-yen",))) == 'portal = "phu-yen"'

    def test_several_values_are_a_disjunction(self):
        assert to_filter(Filters(portal=("phu-yen", "ha-noi"))) == (
            'portal IN ["phu-yen", "ha-noi"]'
        )

    def test_fields_are_joined_with_and_in_facet_order(self):
        filters = Filters(
            locale=("vi",),
            year=(2024,),
            issuer=("BHXH Việt Nam",),
            doc_type=("Công văn",),
            category=("tin-tuc",),
            type=("article",),
            portal=("central",),
        )
        assert to_filter(filters) == (
            'portal = "central" AND type = "article" AND category = "tin-tuc"'
            ' AND doc_type = "Công văn" AND issuer = "BHXH Việt Nam" AND year = 2024'
            ' AND locale = "vi"'
        )

    def test_years_are_numbers_not_strings(self):
        assert to_filter(Filters(year=(2023, 2024))) == "year IN [2023, 2024]"

    def test_repeated_values_are_sent_once(self):
        assert to_filter(Filters(year=(2024, 2024), type=("article", "article"))) == (
            'type = "article" AND year = 2024'
        )

    def test_values_are_kept_as_written(self):
        # Filters compare stored values, not folded text: no accent or case change here.
        assert to_filter(Filters(doc_type=("Quyết định",))) == 'doc_type = "Quyết định"'

    def test_double_quotes_are_escaped(self):
        assert to_filter(Filters(issuer=('Sở "A"',))) == r'issuer = "Sở \"A\""'

    def test_backslashes_are_escaped(self):
        assert to_filter(Filters(issuer=("a\\b",))) == r'issuer = "a\\b"'

    def test_trailing_backslash_cannot_swallow_the_closing_quote(self):
        assert to_filter(Filters(category=("x\\", "y"))) == r'category IN ["x\\", "y"]'

    def test_a_value_cannot_break_out_of_its_literal(self):
        sneaky = 'x" OR portal = "other'
        rendered = to_filter(Filters(portal=(sneaky,)))
        assert rendered == r'portal = "x\" OR portal = \"other"'
        assert unquote(rendered.removeprefix("portal = ")) == sneaky

    @pytest.mark.parametrize("value", ["", "'", '"', "\\", '\\"', "a'b\"c\\d", "Đà Nẵng"])
    def test_quote_round_trips(self, value):
        assert unquote(quote(value)) == value


def unquote(literal: str) -> str:
    """Read one double-quoted filter literal back, as Meilisearch's grammar does."""
    assert literal[0] == literal[-1] == '"'
    out, chars = [], iter(literal[1:-1])
    for char in chars:
        if char == "\\":
            out.append(next(chars))
        else:
            assert char != '"', "an unescaped quote would end the literal"
            out.append(char)
    return "".join(out)


class TestEncodeKey:
    def test_type_and_id_read_naturally(self):
        assert encode_key("article:0f3a9c") == "article-0f3a9c"

    @pytest.mark.parametrize(
        "key", ["article:1", "a-b", "a:b", "a_b", "a_2db", "x/y z", "văn bản:đ", "::", "_"]
    )
    def test_only_allowed_characters_and_reversible(self, key):
        encoded = encode_key(key)
        assert all(c.isascii() and (c.isalnum() or c in "-_") for c in encoded)
        assert decode_key(encoded) == key

    def test_distinct_keys_never_share_an_id(self):
        keys = ["a:b", "a-b", "a_b", "a_2db", "a_3ab", "a__b"]
        assert len({encode_key(key) for key in keys}) == len(keys)

    def test_keys_meilisearch_cannot_hold_are_refused(self):
        with pytest.raises(ValueError, match="length"):
            encode_key("")
        with pytest.raises(ValueError, match="length"):
            encode_key("article:" + "é" * 200)


class TestToRecord:
    def test_original_fields_and_folded_copies(self):
        record = to_record(make_document())
        assert record["title"] == "Hướng dẫn đóng bảo hiểm xã hội"
        assert record["title_folded"] == "huong dan dong bao hiem xa hoi"
        assert record["lead_folded"] == "cong van huong dan thu bhxh."
        assert record["issuer_folded"] == "bao hiem xa hoi viet nam"
        assert record["number"] == "3216/BHXH-TT"
        assert record["number_key"] == "3216/bhxh-tt"
        assert record["number_folded"] == "3216/bhxh-tt"

    def test_nfd_input_and_old_tone_placement_fold_alike(self):
        nfd = unicodedata.normalize("NFD", "Hoà bình ĐỒNG")
        record = to_record(make_document(title=nfd, body="Hòa bình đồng"))
        assert record["title_folded"] == "hoa binh dong"
        assert record["body_folded"] == "hoa binh dong"

    def test_key_is_encoded_and_the_original_kept(self):
        record = to_record(make_document(key="document:ab12"))
        assert record["key"] == "document-ab12"
        assert record["doc_key"] == "document:ab12"

    def test_filterable_values_are_stored_as_is(self):
        record = to_record(make_document())
        assert record["type"] == "document"
        assert record["portal"] == "phu-yen"
        assert record["doc_type"] == "Công văn"
        assert record["year"] == 2024
        assert record["locale"] == "vi"
        assert record["version"] == 3

    def test_published_at_is_a_unix_timestamp_for_sorting(self):
        moment = datetime(2024, 5, 1, 15, 30, tzinfo=timezone(timedelta(hours=7)))
        record = to_record(make_document(published_at=moment))
        assert record["published_at"] == int(moment.timestamp())
        assert record["published_iso"] == "2024-05-01T08:30:00+00:00"

    def test_naive_datetimes_are_utc(self):
        record = to_record(make_document(published_at=datetime(2024, 1, 1)))
        assert record["published_at"] == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())

    def test_an_article_has_no_number_fields(self):
        record = to_record(
            make_document(
                key="article:1", type=DocType.ARTICLE, number=None, doc_type=None, issuer=None
            )
        )
        assert record["type"] == "article"
        assert record["number_key"] is None
        assert record["number_folded"] is None
        assert record["issuer_folded"] is None

    def test_highlight_sentinels_are_removed_from_indexed_text(self):
        record = to_record(make_document(title=f"a{PRE}b{POST}c", body=f"{PRE}x"))
        assert record["title"] == "abc"
        assert record["body"] == "x"

    def test_every_configured_attribute_is_in_the_record(self):
        record = to_record(make_document())
        configured = {*SEARCHABLE, *DISPLAYED, *RETRIEVED, *FACETS, "published_at", "key"}
        assert configured <= set(record)
        assert not set(DISPLAYED) & {name for name in record if name.endswith("_folded")}


class TestQueryText:
    def test_folded_like_the_documents(self):
        assert query_text("Bảo Hiểm  THẤT nghiệp") == "bao hiem that nghiep"
        assert query_text("đóng") == query_text("dong") == "dong"

    def test_document_numbers_keep_their_separators(self):
        assert query_text("12/2024/NĐ-CP") == "12/2024/nd-cp"

    def test_phrase_quotes_and_negations_are_dropped(self):
        assert query_text('"bao hiem" -that') == "bao hiem that"
        assert query_text(' - "" ') == ""

    def test_a_trailing_space_ends_the_last_word(self):
        assert query_text("bao hie") == "bao hie"
        assert query_text("bao hiem ") == "bao hiem "

    def test_empty(self):
        assert query_text("") == ""
        assert query_text("   ") == ""


class TestMark:
    def test_matches_become_mark_tags_and_the_rest_is_escaped(self):
        formatted = f"<b>{PRE}Bảo hiểm{POST}</b> & \"x\" 'y'"
        assert mark(formatted) == (
            "&lt;b&gt;<mark>Bảo hiểm</mark>&lt;/b&gt; &amp; &quot;x&quot; &#x27;y&#x27;"
        )

    def test_a_literal_mark_tag_in_the_text_stays_escaped(self):
        assert mark(f"<mark>x</mark> {PRE}y{POST}") == ("&lt;mark&gt;x&lt;/mark&gt; <mark>y</mark>")


class TestToHit:
    def raw(self, **formatted) -> dict:
        record = to_record(make_document(lead="Lead <i>text</i>", body="Body text"))
        hit = {name: record[name] for name in RETRIEVED}
        hit["_formatted"] = {"title": record["title"], "lead": "", "body": ""} | formatted
        hit["_rankingScore"] = 0.75
        return hit

    def test_fields_come_back_as_indexed(self):
        hit = to_hit(self.raw())
        assert hit.key == "document:ab12"
        assert hit.id == "ab12"
        assert hit.type == "document"
        assert hit.portal == "phu-yen"
        assert hit.url == "/v1/portals/phu-yen/documents/ab12"
        assert hit.published_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
        assert hit.number == "3216/BHXH-TT"
        assert hit.doc_type == "Công văn"
        assert hit.issuer == "Bảo hiểm xã hội Việt Nam"
        assert hit.category == "van-ban"
        assert hit.score == 0.75

    def test_title_is_highlighted_and_escaped(self):
        hit = to_hit(self.raw(title=f"Hướng dẫn {PRE}đóng{POST} <BHXH>"))
        assert hit.title_highlighted == "Hướng dẫn <mark>đóng</mark> &lt;BHXH&gt;"

    def test_snippet_is_the_field_that_matched(self):
        hit = to_hit(self.raw(lead="Lead", body=f"…chi tiết {PRE}đóng{POST} tiền…"))
        assert hit.snippet == "…chi tiết <mark>đóng</mark> tiền…"
        hit = to_hit(self.raw(lead=f"{PRE}Lead{POST}", body=f"{PRE}Body{POST}"))
        assert hit.snippet == "<mark>Lead</mark>"

    def test_snippet_is_the_field_with_more_matches(self):
        hit = to_hit(self.raw(lead=f"{PRE}a{POST} b", body=f"{PRE}a{POST} {PRE}b{POST}"))
        assert hit.snippet == "<mark>a</mark> <mark>b</mark>"

    def test_snippet_without_a_match_is_the_lead(self):
        hit = to_hit(self.raw(lead="Lead <i>text</i>", body="Body text"))
        assert hit.snippet == "Lead &lt;i&gt;text&lt;/i&gt;"

    def test_snippet_falls_back_to_the_body_when_there_is_no_lead(self):
        hit = to_hit(self.raw(lead=None, body="Body & more"))
        assert hit.snippet == "Body &amp; more"

    def test_without_formatted_the_raw_title_is_escaped(self):
        raw = self.raw()
        del raw["_formatted"]
        hit = to_hit(raw)
        assert hit.title_highlighted == "Hướng dẫn đóng bảo hiểm xã hội"
        assert hit.snippet == ""


class TestFacetCounts:
    def test_every_wanted_facet_is_present(self):
        counts = facet_counts({"portal": {"phu-yen": 2}}, ["portal", "type"])
        assert counts == {"portal": {"phu-yen": 2}, "type": {}}

    def test_year_keys_are_plain_integers_as_strings(self):
        counts = facet_counts({"year": {"2024": 3, "2023.0": 1}}, ["year"])
        assert counts == {"year": {"2024": 3, "2023": 1}}

    def test_no_distribution(self):
        assert facet_counts(None, ["year"]) == {"year": {}}


EXPECTED_SETTINGS = {
    "rankingRules": ["words", "sort", "typo", "proximity", "attribute", "exactness"],
    "filterableAttributes": ["portal", "type", "category", "doc_type", "issuer", "year", "locale"],
    "searchableAttributes": [
        "number_key",
        "title_folded",
        "lead_folded",
        "body_folded",
        "number_folded",
        "issuer_folded",
    ],
    "displayedAttributes": DISPLAYED,
    "sortableAttributes": ["published_at"],
    "typoTolerance": {
        "enabled": True,
        "disableOnAttributes": ["number_key", "number_folded"],
        "disableOnNumbers": True,
        "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
    },
    "pagination": {"maxTotalHits": 100_000},
}


class TestIndexSettings:
    def test_payload(self):
        payload = index_settings().model_dump(by_alias=True, exclude_none=True)
        assert payload == EXPECTED_SETTINGS


class TestMeiliBackend:
    def test_index_names(self):
        backend = MeiliBackend("http://meili:7700", None, index_prefix="t_1")
        assert backend.uid == "t_1_items"
        assert backend.staging_uid == "t_1_items_next"

    def test_a_prefix_meilisearch_cannot_name_is_refused(self):
        with pytest.raises(ValueError, match="index_prefix"):
            MeiliBackend("http://meili:7700", None, index_prefix="a b")

    async def test_using_it_before_open_is_a_clear_error(self):
        with pytest.raises(RuntimeError, match="open"):
            await MeiliBackend("http://meili:7700", None).versions(["article:1"])


TASK = {"indexUid": "t_items", "type": "x", "enqueuedAt": "2025-01-01T00:00:00Z"}
INDEX = {"uid": "t_items", "primaryKey": "key", "createdAt": TASK["enqueuedAt"]}
INDEX["updatedAt"] = TASK["enqueuedAt"]


class TestOpen:
    @pytest.mark.parametrize("exists", [False, True])
    async def test_creates_the_index_if_missing_and_applies_settings(self, monkeypatch, exists):
        sent: list[httpx2.Request] = []

        def respond(request: httpx2.Request) -> httpx2.Response:
            sent.append(request)
            route = (request.method, request.url.path)
            if route == ("GET", "/indexes/t_items"):
                if not exists and sum(r.url.path == "/indexes/t_items" for r in sent) == 1:
                    not_found = {"message": "not found", "code": "index_not_found"}
                    return httpx2.Response(404, json=not_found)
                return httpx2.Response(200, json=INDEX)
            if route in {("POST", "/indexes"), ("PATCH", "/indexes/t_items/settings")}:
                return httpx2.Response(
                    202, json={"taskUid": len(sent), "status": "enqueued"} | TASK
                )
            if request.method == "GET" and request.url.path.startswith("/tasks/"):
                uid = int(request.url.path.rsplit("/", 1)[1])
                return httpx2.Response(200, json={"uid": uid, "status": "succeeded"} | TASK)
            return httpx2.Response(500, json={"message": f"unexpected {route}"})

        transport = httpx2.MockTransport(respond)
        real = _async_client.HttpxAsyncClient
        monkeypatch.setattr(
            _async_client,
            "HttpxAsyncClient",
            lambda **kwargs: real(transport=transport, **kwargs),
        )
        backend = MeiliBackend("http://meili:7700", "master-key", index_prefix="t")
        await backend.open()
        await backend.close()

        routes = [(r.method, r.url.path) for r in sent]
        created = [] if exists else [("POST", "/indexes"), ("GET", "/tasks/2")]
        fetched = [] if exists else [("GET", "/indexes/t_items")]
        patch_uid = len(created) + len(fetched) + 2
        assert routes == [
            ("GET", "/indexes/t_items"),
            *created,
            *fetched,
            ("PATCH", "/indexes/t_items/settings"),
            ("GET", f"/tasks/{patch_uid}"),
        ]
        assert all(r.headers["authorization"] == "Bearer master-key" for r in sent)
        if not exists:
            assert json.loads(sent[1].content) == {"uid": "t_items", "primaryKey": "key"}
        assert json.loads(sent[-2].content) == EXPECTED_SETTINGS


class StubTasks:
    """Stands in for the SDK client's task wait only (no Meilisearch behaviour)."""

    def __init__(self, result: TaskResult | Exception) -> None:
        self.result = result

    async def wait_for_task(self, task_uid: int, **_: object) -> TaskResult:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class TestWait:
    def backend(self, result: TaskResult | Exception) -> MeiliBackend:
        backend = MeiliBackend("http://meili:7700", None, task_timeout=1.5)
        backend._client = StubTasks(result)  # type: ignore[assignment]
        return backend

    def task(self, status: str, error: dict | None = None) -> TaskResult:
        return TaskResult(
            uid=7,
            indexUid="portal_items",
            status=status,
            type="documentAdditionOrUpdate",
            error=error,
            enqueuedAt=datetime(2025, 1, 1, tzinfo=UTC),
        )

    async def test_success_returns(self):
        await self.backend(self.task("succeeded"))._wait(7)

    async def test_a_failed_task_says_what_and_why(self):
        failure = {"message": "The primary key is missing.", "code": "missing_document_id"}
        with pytest.raises(MeiliError) as raised:
            await self.backend(self.task("failed", failure))._wait(7)
        message = str(raised.value)
        assert "task 7" in message
        assert "documentAdditionOrUpdate on portal_items" in message
        assert "The primary key is missing. [missing_document_id]" in message

    async def test_a_missing_index_is_fine_only_when_dropping(self):
        gone = self.task("failed", {"message": "nope", "code": "index_not_found"})
        await self.backend(gone)._wait(7, missing_ok=True)
        with pytest.raises(MeiliError, match="index_not_found"):
            await self.backend(gone)._wait(7)

    async def test_a_timeout_names_the_task_and_the_limit(self):
        backend = self.backend(MeilisearchTimeoutError("slow"))
        with pytest.raises(MeiliError, match=r"task 7 did not finish within 1\.5s"):
            await backend._wait(7)


def test_module_builds_nothing_at_import():
    assert not any(isinstance(value, MeiliBackend) for value in vars(meili).values())
