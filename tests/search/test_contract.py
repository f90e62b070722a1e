"""The contract every search backend passes (`backend` fixture: see conftest.py).

The texts are taken from real BHXH portal articles and official letters.
"""

from __future__ import annotations

import asyncio
import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest

from services.search.model import DocType, Filters, SearchDocument, SearchQuery, Sort


def make_doc(key: str, **overrides: Any) -> SearchDocument:
    """A search document; `key` is `"{type}:{id}"`, the rest has plausible defaults."""
    kind, _, ident = key.partition(":")
    fields: dict[str, Any] = {
        "key": key,
        "id": ident,
        "type": DocType(kind),
        "portal": "trung-uong",
        "title": f"Tin {ident}",
        "url": f"/{kind}s/{ident}",
        "published_at": datetime(2024, 1, 1, tzinfo=UTC),
        "version": 1,
        "year": 2024,
    }
    fields.update(overrides)
    return SearchDocument(**fields)


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def day(month: int, d: int, year: int = 2024) -> datetime:
    return datetime(year, month, d, 8, 30, tzinfo=UTC)


CORPUS = [
    make_doc(
        "article:bhtn",
        portal="ha-noi",
        category="chinh-sach",
        title="Hướng dẫn hưởng bảo hiểm thất nghiệp cho người lao động",
        lead="Người lao động mất việc làm được hưởng trợ cấp bảo hiểm thất nghiệp.",
        body=(
            "Theo BHXH thành phố Hà Nội, người lao động đã đóng bảo hiểm thất nghiệp từ đủ "
            "12 tháng trở lên trong thời gian 24 tháng trước khi chấm dứt hợp đồng lao động "
            "thì được hưởng trợ cấp thất nghiệp hằng tháng."
        ),
        published_at=day(3, 10),
    ),
    make_doc(
        "article:bhxh-tu-nguyen",
        portal="ha-noi",
        category="chinh-sach",
        title="Bảo hiểm xã hội tự nguyện: chỗ dựa khi về già",
        body=(
            "Bảo hiểm xã hội tự nguyện là loại hình bảo hiểm do Nhà nước tổ chức, người tham "
            "gia được lựa chọn mức đóng và phương thức đóng phù hợp với thu nhập của mình."
        ),
        published_at=day(2, 1),
    ),
    make_doc(
        "article:tuy-hoa",
        portal="phu-yen",
        category="hoat-dong",
        title="Hội nghị tập huấn nghiệp vụ truyền thông tại Tp. Tuy Hoà",
        body=(
            "BHXH Việt Nam tổ chức Hội nghị tổng kết công tác tuyên truyền năm 2017, triển "
            "khai nhiệm vụ năm 2018 và tập huấn nghiệp vụ thông tin, truyền thông khu vực "
            "phía Nam trong hai ngày 19-20/4 tại Tp. Tuy Hoà (tỉnh Phú Yên). Các đơn vị "
            "được hướng dẫn thiết kế Infographic và video clip ngắn trên Internet."
        ),
        published_at=day(4, 21),
        year=2024,
    ),
    make_doc(
        "article:da-nang",
        portal="da-nang",
        category="hoat-dong",
        title="ĐÀ NẴNG đẩy mạnh cấp sổ bảo hiểm xã hội điện tử",
        body="BHXH thành phố Đà Nẵng đã hoàn thành việc cấp sổ BHXH điện tử cho đơn vị.",
        published_at=day(5, 2),
    ),
    make_doc(
        "document:3216",
        portal="trung-uong",
        title="V/v triển khai công tác truyền thông trên Cổng TTĐT BHXH địa phương",
        lead=(
            "Thời gian qua, công tác truyền thông trên hệ thống Cổng Thông tin điện tử của "
            "BHXH các tỉnh, thành phố trực thuộc Trung ương đã đạt được nhiều kết quả tích cực."
        ),
        number="3216/BHXH-TT",
        doc_type="Công văn",
        issuer="BHXH Việt Nam",
        year=2023,
        published_at=day(10, 5, 2023),
    ),
    make_doc(
        "article:thuc-hien-3216",
        portal="trung-uong",
        category="hoat-dong",
        title="Các tỉnh thực hiện Công văn 3216/BHXH-TT về truyền thông",
        body=(
            "Thực hiện Công văn số 3216/BHXH-TT, BHXH các tỉnh đã rà soát nội dung tin, bài "
            "trên Cổng TTĐT; mã 3216 được dẫn chiếu trong báo cáo tháng 3216 lượt truy cập."
        ),
        published_at=day(11, 20, 2023),
        year=2023,
    ),
    make_doc(
        "document:nd12",
        portal="trung-uong",
        title="Quy định chi tiết một số điều của Luật Bảo hiểm xã hội về bảo hiểm bắt buộc",
        number="12/2024/NĐ-CP",
        doc_type="Nghị định",
        issuer="Chính phủ",
        year=2024,
        published_at=day(6, 1),
    ),
    make_doc(
        "article:bao-cao-nd12",
        portal="trung-uong",
        category="chinh-sach",
        title="Hỏi đáp về Nghị định 12/2024/NĐ-CP",
        body="Nghị định 12/2024/NĐ-CP quy định chi tiết về bảo hiểm xã hội bắt buộc.",
        published_at=day(6, 15),
    ),
]


async def seed(backend, docs=CORPUS) -> None:
    await backend.upsert(docs)


async def search(backend, q: str = "", **kwargs: Any):
    return await backend.search(SearchQuery(q=q, **kwargs))


async def keys(backend, q: str = "", **kwargs: Any) -> list[str]:
    return [h.key for h in (await search(backend, q, **kwargs)).hits]


class TestVietnameseMatching:
    async def test_query_without_accents_finds_accented_text(self, backend):
        await seed(backend)
        assert (await keys(backend, "bao hiem that nghiep"))[0] == "article:bhtn"

    async def test_query_with_accents_finds_accented_text(self, backend):
        await seed(backend)
        assert (await keys(backend, "bảo hiểm thất nghiệp"))[0] == "article:bhtn"

    async def test_accented_query_finds_text_written_without_accents(self, backend):
        await seed(backend, [make_doc("article:x", title="Tra cuu qua trinh dong bao hiem")])
        assert await keys(backend, "tra cứu quá trình đóng") == ["article:x"]

    @pytest.mark.parametrize("q", ["đà nẵng", "da nang", "DA NANG", "Đà Nẵng", "ĐÀ NẴNG"])
    async def test_d_stroke_and_case(self, backend, q):
        await seed(backend)
        assert (await keys(backend, q))[0] == "article:da-nang"

    @pytest.mark.parametrize("q", ["tuy hòa", "tuy hoà", "Tuy Hoa"])
    async def test_old_and_new_tone_placement(self, backend, q):
        await seed(backend)
        assert await keys(backend, q) == ["article:tuy-hoa"]

    async def test_new_tone_placement_in_the_document(self, backend):
        await seed(backend, [make_doc("article:x", title="Khánh Hòa chi trả lương hưu")])
        assert await keys(backend, "khánh hoà") == ["article:x"]

    async def test_nfd_document_and_nfd_query(self, backend):
        await seed(backend, [make_doc("article:nfd", title=nfd("Thủ tục cấp lại thẻ BHYT"))])
        assert await keys(backend, "thủ tục cấp lại") == ["article:nfd"]
        assert await keys(backend, nfd("thủ tục cấp lại")) == ["article:nfd"]
        hit = (await search(backend, "the bhyt")).hits[0]
        assert hit.title == unicodedata.normalize("NFC", hit.title)
        assert "<mark>thẻ</mark>" in hit.title_highlighted


class TestTypos:
    async def test_one_typo_in_a_five_letter_word(self, backend):
        await seed(backend)
        # "thnog" for "thông": a transposition counts as one typo
        assert "article:tuy-hoa" in await keys(backend, "thnog ")

    async def test_one_substitution_in_a_six_letter_word(self, backend):
        await seed(backend)
        assert "article:bhtn" in await keys(backend, "nghiap ")

    async def test_two_typos_in_a_word_of_nine_letters(self, backend):
        await seed(backend)
        assert await keys(backend, "infogrpahik ") == ["article:tuy-hoa"]

    async def test_two_typos_are_too_many_below_nine_letters(self, backend):
        await seed(backend)
        assert await keys(backend, "intarnot ") == []  # internet, 8 letters

    async def test_no_typo_in_short_words(self, backend):
        await seed(backend)
        assert await keys(backend, "hiam ") == []  # hiểm, 4 letters

    async def test_exact_words_outrank_typos(self, backend):
        await seed(
            backend,
            [
                make_doc("article:typo", title="Nghiêm túc thực hiện", published_at=day(9, 9)),
                make_doc(
                    "article:exact",
                    title="Tin hoạt động",
                    body="Hội nghị bàn về nghiệp vụ thu.",
                    published_at=day(1, 1),
                ),
            ],
        )
        # "nghiem" is one typo away from "nghiep": an exact body match still comes first
        assert await keys(backend, "nghiep ") == ["article:exact", "article:typo"]


class TestPrefix:
    async def test_last_word_is_a_prefix(self, backend):
        await seed(backend)
        assert (await keys(backend, "bảo hiểm thất ngh"))[0] == "article:bhtn"

    async def test_prefix_without_accents(self, backend):
        await seed(backend)
        assert "article:da-nang" in await keys(backend, "so bao hiem xa hoi dien t")

    async def test_a_trailing_space_ends_the_prefix(self, backend):
        await seed(backend)
        assert await keys(backend, "infogr") == ["article:tuy-hoa"]
        assert await keys(backend, "infogr ") == []


class TestRanking:
    async def test_documents_with_every_word_come_first(self, backend):
        await seed(backend)
        found = await keys(backend, "bao hiem that nghiep")
        assert found[0] == "article:bhtn"
        # any document missing a word ranks below every document that has them all
        assert set(found[1:]) <= set(await keys(backend, "bao hiem")) - {"article:bhtn"}

    async def test_partial_matches_when_nothing_has_every_word(self, backend):
        await seed(backend)
        found = await keys(backend, "bảo hiểm thất nghiệp xyzzyq ")
        assert found
        assert found[0] == "article:bhtn"

    async def test_title_outranks_body(self, backend):
        await seed(
            backend,
            [
                make_doc(
                    "article:body",
                    title="Tin hoạt động",
                    body="Hội nghị bàn về chuyển đổi số trong ngành.",
                    published_at=day(9, 1),
                ),
                make_doc(
                    "article:title",
                    title="Chuyển đổi số trong ngành BHXH",
                    body="Hội nghị bàn về nhiệm vụ năm tới.",
                    published_at=day(1, 1),
                ),
            ],
        )
        assert await keys(backend, "chuyen doi so") == ["article:title", "article:body"]


class TestDocumentNumbers:
    @pytest.mark.parametrize("q", ["3216/BHXH-TT", "3216/bhxh-tt", "3216", "3216/BHXH"])
    async def test_official_letter_number_ranks_first(self, backend, q):
        await seed(backend)
        found = await keys(backend, q)
        assert found[0] == "document:3216"
        assert "article:thuc-hien-3216" in found

    @pytest.mark.parametrize("q", ["12/2024/nđ-cp", "12/2024/NĐ-CP", "12/2024/nd-cp"])
    async def test_decree_number_ranks_first(self, backend, q):
        await seed(backend)
        found = await keys(backend, q)
        assert found[0] == "document:nd12"
        assert "article:bao-cao-nd12" in found

    async def test_hit_carries_the_document_fields(self, backend):
        await seed(backend)
        hit = (await search(backend, "3216/BHXH-TT")).hits[0]
        assert (hit.number, hit.doc_type, hit.issuer) == (
            "3216/BHXH-TT",
            "Công văn",
            "BHXH Việt Nam",
        )
        assert hit.type == "document"


class TestFiltersAndSort:
    async def test_portal_filter_never_leaks_even_for_an_empty_query(self, backend):
        await seed(backend)
        for q in ("", "bao hiem", "3216/BHXH-TT", "hội nghị"):
            result = await search(backend, q, filters=Filters(portal=("phu-yen",)))
            assert {h.portal for h in result.hits} <= {"phu-yen"}
            assert set(result.facets.get("portal", {})) <= {"phu-yen"}
        empty = await search(backend, "", filters=Filters(portal=("phu-yen",)))
        assert [h.key for h in empty.hits] == ["article:tuy-hoa"]
        assert empty.total == 1

    async def test_several_portals_and_the_central_view(self, backend):
        await seed(backend)
        two = await search(backend, "", filters=Filters(portal=("ha-noi", "da-nang")))
        assert {h.portal for h in two.hits} == {"ha-noi", "da-nang"}
        assert two.total == 3
        assert (await search(backend, "")).total == len(CORPUS)

    async def test_empty_query_lists_by_newest(self, backend):
        await seed(backend)
        hits = (await search(backend, "")).hits
        dates = [h.published_at for h in hits]
        assert dates == sorted(dates, reverse=True)
        assert hits[0].key == "article:bao-cao-nd12"

    async def test_filters_with_sort_newest(self, backend):
        await seed(backend)
        result = await search(
            backend,
            "bao hiem",
            filters=Filters(type=("article",), category=("chinh-sach",)),
            sort=Sort.NEWEST,
        )
        assert [h.key for h in result.hits] == [
            "article:bao-cao-nd12",
            "article:bhtn",
            "article:bhxh-tu-nguyen",
        ]

    async def test_filter_by_year_doc_type_and_issuer(self, backend):
        await seed(backend)
        assert await keys(backend, "", filters=Filters(year=(2023,))) == [
            "article:thuc-hien-3216",
            "document:3216",
        ]
        assert await keys(backend, "", filters=Filters(doc_type=("Nghị định",))) == [
            "document:nd12"
        ]
        assert await keys(
            backend, "", filters=Filters(issuer=("BHXH Việt Nam", "Chính phủ"), year=(2024,))
        ) == ["document:nd12"]
        assert await keys(backend, "", filters=Filters(locale=("en",))) == []

    async def test_pagination_and_total(self, backend):
        await seed(backend)
        pages = [await search(backend, "", page=p, per_page=3) for p in (1, 2, 3)]
        assert [len(p.hits) for p in pages] == [3, 3, 2]
        assert {p.total for p in pages} == {len(CORPUS)}
        assert len({h.key for p in pages for h in p.hits}) == len(CORPUS)


class TestFacets:
    async def test_counts_over_the_whole_filtered_result(self, backend):
        await seed(backend)
        result = await search(backend, "", filters=Filters(portal=("trung-uong",)), per_page=1)
        assert result.total == 4
        assert result.facets["type"] == {"article": 2, "document": 2}
        assert result.facets["portal"] == {"trung-uong": 4}
        assert result.facets["year"] == {"2023": 2, "2024": 2}
        assert result.facets["doc_type"] == {"Công văn": 1, "Nghị định": 1}
        assert result.facets["issuer"] == {"BHXH Việt Nam": 1, "Chính phủ": 1}
        assert result.facets["category"] == {"hoat-dong": 1, "chinh-sach": 1}

    async def test_counts_follow_the_query(self, backend):
        await seed(backend)
        result = await search(backend, "bao hiem xa hoi", facets=("portal", "type"))
        assert set(result.facets) == {"portal", "type"}
        assert sum(result.facets["type"].values()) == result.total
        assert result.facets["portal"]["ha-noi"] == 1  # tự nguyện, not thất nghiệp


class TestSnippets:
    async def test_marks_the_original_text(self, backend):
        await seed(backend)
        hit = (await search(backend, "bao hiem that nghiep")).hits[0]
        assert "<mark>thất</mark>" in hit.snippet
        assert "<mark>nghiệp</mark>" in hit.snippet
        assert "<mark>bảo</mark>" in hit.title_highlighted
        assert "<mark>thất</mark>" in hit.title_highlighted

    async def test_html_in_documents_is_escaped(self, backend):
        await seed(
            backend,
            [
                make_doc(
                    "article:xss",
                    title="Cảnh báo <script>alert(1)</script> giả mạo",
                    body="Trang giả mạo chèn <script>alert('bhxh')</script> & lừa đảo.",
                )
            ],
        )
        hit = (await search(backend, "gia mao")).hits[0]
        for shown in (hit.snippet, hit.title_highlighted):
            assert "<script>" not in shown
            assert "&lt;script&gt;" in shown
        assert "<mark>mạo</mark>" in hit.title_highlighted
        assert "&amp;" in hit.snippet


class TestWriteLifecycle:
    async def test_upsert_twice_keeps_one_document(self, backend):
        await seed(backend)
        changed = make_doc(
            "article:da-nang", portal="da-nang", title="Đà Nẵng hoàn thành cấp sổ", version=2
        )
        await backend.upsert([changed])
        await backend.upsert([changed])
        result = await search(backend, "da nang")
        assert [h.key for h in result.hits].count("article:da-nang") == 1
        assert (await search(backend, "")).total == len(CORPUS)
        assert result.hits[0].title == "Đà Nẵng hoàn thành cấp sổ"

    async def test_delete_removes_from_hits_and_facets_at_once(self, backend):
        await seed(backend)
        await backend.delete(["article:tuy-hoa", "article:never-indexed"])
        assert "article:tuy-hoa" not in await keys(backend, "tuy hoa")
        result = await search(backend, "")
        assert "phu-yen" not in result.facets["portal"]
        assert result.total == len(CORPUS) - 1
        assert await keys(backend, "", filters=Filters(portal=("phu-yen",))) == []

    async def test_versions_and_all_keys(self, backend):
        await seed(backend)
        await backend.upsert([make_doc("article:bhtn", portal="ha-noi", version=7)])
        assert await backend.versions(["article:bhtn", "document:3216", "article:nope"]) == {
            "article:bhtn": 7,
            "document:3216": 1,
        }
        everything = await backend.all_keys()
        assert everything == {d.key: (7 if d.key == "article:bhtn" else 1) for d in CORPUS}
        await backend.delete(["article:bhtn"])
        assert "article:bhtn" not in await backend.all_keys()
        assert await backend.versions(["article:bhtn"]) == {}

    async def test_clear(self, backend):
        await seed(backend)
        await backend.clear()
        assert (await search(backend, "")).total == 0
        assert await backend.all_keys() == {}


class TestSuggest:
    async def test_completes_titles(self, backend):
        await seed(backend)
        found = await backend.suggest("bảo hiểm xã hội tự ngu", Filters(), 5)
        assert found[0].title == "Bảo hiểm xã hội tự nguyện: chỗ dựa khi về già"
        assert found[0].url == "/articles/bhxh-tu-nguyen"
        assert (found[0].type, found[0].portal) == ("article", "ha-noi")

    async def test_respects_filters_and_limit(self, backend):
        await seed(backend)
        found = await backend.suggest("hoi ng", Filters(portal=("phu-yen",)), 5)
        assert [s.portal for s in found] == ["phu-yen"]
        assert await backend.suggest("hoi ng", Filters(portal=("da-nang",)), 5) == []
        assert len(await backend.suggest("b", Filters(), 2)) <= 2

    async def test_no_duplicate_titles(self, backend):
        same = "Lịch tiếp công dân tháng 7"
        await seed(
            backend,
            [
                make_doc("article:a", title=same, published_at=day(7, 1)),
                make_doc("article:b", title=same, published_at=day(7, 2)),
                make_doc("article:c", title="Lịch chi trả lương hưu", published_at=day(7, 3)),
            ],
        )
        found = await backend.suggest("lich", Filters(), 10)
        assert sorted(s.title for s in found) == sorted([same, "Lịch chi trả lương hưu"])
        assert [s.url for s in found if s.title == same] == ["/articles/b"]  # newest


class TestReplaceAll:
    async def test_swaps_in_the_new_set_and_answers_during_the_build(self, backend):
        await seed(backend)
        fresh = [
            make_doc(f"article:moi-{n}", title=f"Bản tin bảo hiểm số {n}", published_at=day(8, n))
            for n in range(1, 7)
        ]
        during: list[int] = []
        progress: list[int] = []

        async def batches():
            for start in range(0, len(fresh), 2):
                # the old index still answers while the new one is being built
                during.append((await search(backend, "bao hiem that nghiep")).total)
                await asyncio.sleep(0)
                yield fresh[start : start + 2]

        count = await backend.replace_all(batches(), progress.append)
        assert count == len(fresh)
        assert progress[-1] == len(fresh)
        assert during
        assert all(total >= 1 for total in during)
        result = await search(backend, "")
        assert sorted(h.key for h in result.hits) == sorted(d.key for d in fresh)
        assert "article:bhtn" not in await keys(backend, "bao hiem that nghiep")
        assert set(await backend.all_keys()) == {d.key for d in fresh}

    async def test_a_failed_build_leaves_the_old_index(self, backend):
        await seed(backend)

        async def batches():
            yield [make_doc("article:moi", title="Bản tin mới")]
            raise RuntimeError("content went away")

        with pytest.raises(RuntimeError):
            await backend.replace_all(batches())
        assert (await search(backend, "")).total == len(CORPUS)
        await backend.upsert([make_doc("article:sau", title="Bản tin sau khi lỗi")])
        assert await keys(backend, "ban tin sau") == ["article:sau"]
