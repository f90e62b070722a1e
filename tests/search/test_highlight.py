"""Snippets and highlighted titles: original text, matches in <mark>, everything escaped."""

import re
import unicodedata

from services.search.highlight import Highlighter, highlight, query_terms, snippet


def nfd(s):
    return unicodedata.normalize("NFD", s)


def marked(html):
    return re.findall(r"<mark>(.*?)</mark>", html)


class TestMark:
    def test_folded_query_marks_the_original_words(self):
        shown = highlight("Bảo hiểm thất nghiệp", "bao hiem that nghiep ")
        assert shown == ("<mark>Bảo</mark> <mark>hiểm</mark> <mark>thất</mark> <mark>nghiệp</mark>")

    def test_d_stroke_and_case(self):
        assert marked(highlight("ĐÀ NẴNG và Đồng Nai", "da nang dong ")) == ["ĐÀ", "NẴNG", "Đồng"]

    def test_nfd_text_keeps_its_combining_marks_inside_the_mark(self):
        text = nfd("Bảo hiểm xã hội Đà Nẵng")
        shown = highlight(text, "hiem da ")
        assert marked(shown) == [nfd("hiểm"), nfd("Đà")]
        assert shown.replace("<mark>", "").replace("</mark>", "") == text

    def test_old_and_new_tone_placement(self):
        assert marked(highlight("Tp. Tuy Hoà, Khánh Hòa", "hòa ")) == ["Hoà", "Hòa"]

    def test_prefix_of_the_last_word_only(self):
        assert marked(highlight("thông tin truyền thông", "thô")) == ["thông", "thông"]
        assert marked(highlight("thông tin truyền thông", "thô ")) == []
        assert marked(highlight("nghiệp vụ nghị định", "ngh vu")) == ["vụ"]

    def test_typos_as_the_search_allows(self):
        assert marked(highlight("Nghiệp vụ", "ngheip ")) == ["Nghiệp"]
        assert marked(highlight("thiết kế Infographic", "infogrpahik ")) == ["Infographic"]
        assert marked(highlight("bảo hiểm", "hiam ")) == []  # four letters: exact only

    def test_document_number_is_one_mark(self):
        shown = highlight("Thực hiện Công văn số 3216/BHXH-TT ngày 05/10", "3216/bhxh-tt")
        assert marked(shown) == ["3216/BHXH-TT"]
        assert marked(highlight("Nghị định 12/2024/NĐ-CP", "12/2024/nđ-cp ")) == ["12/2024/NĐ-CP"]

    def test_html_is_escaped(self):
        shown = highlight("<script>alert('bảo hiểm')</script> & <b>", "bao hiem ")
        assert "<script>" not in shown
        assert shown.startswith("&lt;script&gt;alert(&#x27;<mark>bảo</mark>")
        assert shown.endswith("&amp; &lt;b&gt;")

    def test_empty_query_marks_nothing(self):
        assert highlight("Bảo <hiểm>", "") == "Bảo &lt;hiểm&gt;"


class TestSnippet:
    BODY = " ".join(f"từ{n}" for n in range(100))

    def test_about_thirty_words_around_the_best_match(self):
        text = self.BODY + " bảo hiểm thất nghiệp " + self.BODY
        shown = snippet(text, "bao hiem that nghiep ")
        assert shown.startswith("…")
        assert shown.endswith("…")
        assert marked(shown) == ["bảo", "hiểm", "thất", "nghiệp"]
        assert 28 <= len(shown.strip("…").split()) <= 31

    def test_prefers_the_stretch_with_most_query_words(self):
        text = "bảo " + self.BODY + " bảo hiểm thất nghiệp " + self.BODY
        assert marked(snippet(text, "bao hiem that nghiep ")) == ["bảo", "hiểm", "thất", "nghiệp"]

    def test_without_match_shows_the_beginning(self):
        shown = snippet(self.BODY, "xyz")
        assert shown.startswith("từ0 từ1")
        assert shown.endswith("…")
        assert "<mark>" not in shown

    def test_short_text_is_shown_whole(self):
        assert snippet("Hướng dẫn <b>mới</b>", "huong dan") == (
            "<mark>Hướng</mark> <mark>dẫn</mark> &lt;b&gt;mới&lt;/b&gt;"
        )

    def test_nfd_body(self):
        text = nfd(self.BODY + " Đà Nẵng cấp sổ điện tử " + self.BODY)
        shown = snippet(text, "da nang ")
        assert marked(shown) == [nfd("Đà"), nfd("Nẵng")]

    def test_counts_distinct_terms_shown(self):
        crop = Highlighter("bao hiem xa hoi ").crop("Bảo hiểm y tế và bảo hiểm xã hội")
        assert crop.matched == 4


class TestQueryTerms:
    def test_compound_contributes_its_parts(self):
        terms = query_terms("3216/bhxh-t")
        assert [(t.text, t.prefix) for t in terms] == [
            ("3216", False),
            ("bhxh", False),
            ("t", True),
        ]


class TestLongText:
    def test_match_deep_in_a_long_body(self):
        filler = " ".join(f"đoạn{n} văn bản" for n in range(3000))
        text = filler + " Công văn 3216/BHXH-TT về bảo hiểm thất nghiệp. " + filler
        crop = Highlighter("3216/bhxh-tt that nghiep ").crop(text)
        assert marked(crop.html) == ["3216/BHXH-TT", "thất", "nghiệp"]
        assert crop.html.startswith("…")
        assert crop.html.endswith("…")

    def test_nfd_long_body(self):
        filler = nfd(" ".join(f"đoạn{n}" for n in range(3000)))
        crop = Highlighter("hiem ").crop(filler + nfd(" bảo hiểm ") + filler)
        assert marked(crop.html) == [nfd("hiểm")]
