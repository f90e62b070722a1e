"""Vietnamese text helpers: NFC, diacritic folding and slugs."""

import unicodedata

import pytest

from services.common.text import fold, nfc, slugify


def nfd(s):
    return unicodedata.normalize("NFD", s)


class TestNfc:
    def test_composes_nfd_input(self):
        composed = "Bảo hiểm xã hội"
        assert len(nfd(composed)) > len(composed)
        assert nfc(nfd(composed)) == composed

    def test_leaves_nfc_and_ascii_alone(self):
        assert nfc("Đà Nẵng") == "Đà Nẵng"
        assert nfc("BHXH 2025") == "BHXH 2025"


class TestFold:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Bảo hiểm xã hội", "bao hiem xa hoi"),
            ("ĐỒNG THÁP", "dong thap"),
            ("Đắk Lắk", "dak lak"),
            ("đường", "duong"),
            ("Thừa Thiên Huế", "thua thien hue"),
            ("Quyết định số 3216/QĐ-BHXH", "quyet dinh so 3216/qd-bhxh"),
            ("ưu đãi ơn", "uu dai on"),
            ("Café naïve", "cafe naive"),
            ("", ""),
        ],
    )
    def test_examples(self, text, expected):
        assert fold(text) == expected

    @pytest.mark.parametrize("text", ["Bảo hiểm y tế", "ĐỒNG THÁP", "Nghị định 115/2015/NĐ-CP"])
    def test_nfd_input_folds_the_same(self, text):
        assert fold(nfd(text)) == fold(text)

    @pytest.mark.parametrize(
        ("old", "new"),
        [("hoà", "hòa"), ("thuý", "thúy"), ("khoẻ", "khỏe"), ("Hoà Bình", "Hòa Bình")],
    )
    def test_old_and_new_tone_placement_fold_identically(self, old, new):
        assert old != new
        assert fold(old) == fold(new)

    def test_d_with_stroke_in_nfd(self):
        assert fold(nfd("Đề án")) == "de an"

    def test_result_is_nfc(self):
        assert unicodedata.is_normalized("NFC", fold(nfd("Tiếng Việt")))


class TestSlugify:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Bảo hiểm xã hội: đổi mới", "bao-hiem-xa-hoi-doi-moi"),
            ("ĐẢNG ỦY Khối", "dang-uy-khoi"),
            ("  Hỏi -- đáp!!! về BHYT?  ", "hoi-dap-ve-bhyt"),
            ("Công văn 3216/BHXH-TT ngày 12/10/2024", "cong-van-3216-bhxh-tt-ngay-12-10-2024"),
            ("“Nói không” với nợ đóng BHXH…", "noi-khong-voi-no-dong-bhxh"),
            ("Hoà nhập", "hoa-nhap"),
            ("Hòa nhập", "hoa-nhap"),
            ("a_b.c", "a-b-c"),
        ],
    )
    def test_examples(self, text, expected):
        assert slugify(text) == expected

    def test_nfd_input(self):
        assert slugify(nfd("Bảo hiểm xã hội: đổi mới")) == "bao-hiem-xa-hoi-doi-moi"

    @pytest.mark.parametrize("text", ["", "   ", "!!! ??? …", "—", "中文"])
    def test_nothing_usable_gives_empty(self, text):
        assert slugify(text) == ""

    def test_only_slug_characters(self):
        slug = slugify("Tỷ lệ bao phủ BHYT đạt 93,35% dân số (năm 2024) & hơn thế")
        assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
        assert "--" not in slug
        assert not slug.startswith("-")
        assert not slug.endswith("-")

    def test_long_title_is_cut_at_a_word_boundary(self):
        title = "Bảo hiểm xã hội Việt Nam triển khai đồng bộ các giải pháp " * 5
        slug = slugify(title)
        assert len(slug) <= 120
        assert not slug.endswith("-")
        assert slugify(title, max_length=1000).startswith(slug + "-")

    def test_cut_keeps_a_word_ending_exactly_at_the_limit(self):
        assert slugify("abc def ghi", max_length=7) == "abc-def"
        assert slugify("abc def ghi", max_length=6) == "abc"

    def test_single_long_word_is_cut_hard(self):
        assert slugify("a" * 200, max_length=50) == "a" * 50

    def test_short_title_untouched_by_limit(self):
        assert slugify("Tin tức", max_length=7) == "tin-tuc"
