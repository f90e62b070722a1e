"""The Vietnamese normaliser shared by documents, queries and both backends."""

import random
import unicodedata
from pathlib import Path

import pytest

from services.common.text import fold
from services.search.normalize import (
    allowed_typos,
    fold_text,
    is_compound,
    is_one_to_one,
    last_word_is_prefix,
    normalize,
    number_key,
    parts,
    split_words,
    tokens,
    words,
)

CORPUS = Path(__file__).parents[2] / "services" / "content" / "demo" / "corpus"


def nfd(s):
    return unicodedata.normalize("NFD", s)


class TestNormalize:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Bảo hiểm thất nghiệp", "bao hiem that nghiep"),
            ("ĐÀ NẴNG", "da nang"),
            ("đường", "duong"),
            ("hoà", "hoa"),
            ("hòa", "hoa"),
            ("  Tuy\tHoà \n", "tuy hoa"),
            ("Số: 3216/BHXH-TT", "so: 3216/bhxh-tt"),
        ],
    )
    def test_folds(self, text, expected):
        assert normalize(text) == expected

    def test_nfd_and_nfc_meet(self):
        text = "Quyết định về chế độ ốm đau, thai sản"
        assert normalize(nfd(text)) == normalize(text) == "quyet dinh ve che do om dau, thai san"

    def test_fast_fold_equals_fold_on_the_corpus(self):
        for path in sorted(CORPUS.glob("*.txt")):
            text = path.read_text()
            assert is_one_to_one(text)
            assert fold_text(text) == fold(text)
            assert fold_text(nfd(text)) == fold(nfd(text))

    def test_fast_fold_equals_fold_on_random_text(self):
        rng = random.Random(3216)
        alphabet = [chr(c) for c in range(0x20, 0x250)] + [chr(c) for c in range(0x1E00, 0x1F00)]
        alphabet += ["ß", "İ", "\u0301", "\u0323", "Ω", "ǅ", "ﬁ", "\u2000", "—", "中"]
        for _ in range(500):
            text = "".join(rng.choices(alphabet, k=rng.randint(0, 40)))
            assert fold_text(text) == fold(text), repr(text)


class TestWords:
    def test_splits_on_anything_but_letters_and_digits(self):
        assert words("Bảo hiểm (BHXH), y tế; thất-nghiệp!") == [
            "bao",
            "hiem",
            "bhxh",
            "y",
            "te",
            "that",
            "nghiep",
        ]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Công văn số 3216/BHXH-TT.", ["cong", "van", "so", "3216/bhxh-tt"]),
            ("Nghị định 12/2024/NĐ-CP", ["nghi", "dinh", "12/2024/nd-cp"]),
            ("NĐ-CP", ["nd", "cp"]),
            ("12/2024/NĐ\u2013CP", ["12/2024/nd-cp"]),  # en dash
            ("ngày 24/8/2017", ["ngay", "24/8/2017"]),
        ],
    )
    def test_keeps_document_numbers_whole(self, text, expected):
        assert words(text) == expected

    def test_tokens_hold_the_parts_and_the_compound(self):
        assert tokens("Công văn 3216/BHXH-TT") == [
            "cong",
            "van",
            "3216",
            "bhxh",
            "tt",
            "3216/bhxh-tt",
        ]
        assert tokens("12/2024/NĐ-CP") == ["12", "2024", "nd", "cp", "12/2024/nd-cp"]

    def test_every_form_of_a_number_shares_tokens(self):
        stored = set(tokens("3216/BHXH-TT"))
        for typed in ("3216/BHXH-TT", "3216/bhxh-tt", "3216"):
            assert set(tokens(typed)) <= stored
        decree = set(tokens("12/2024/NĐ-CP"))
        assert set(tokens("12/2024/nđ-cp")) <= decree
        assert set(tokens("12/2024/nd-cp")) <= decree

    def test_split_words(self):
        assert split_words("Thực hiện 3216/BHXH-TT ngay") == (
            ["thuc", "hien", "3216", "bhxh", "tt", "ngay"],
            ["3216/bhxh-tt"],
        )

    def test_compounds_and_parts(self):
        assert is_compound("3216/bhxh-tt")
        assert not is_compound("bhxh")
        assert parts("12/2024/nd-cp") == ["12", "2024", "nd", "cp"]


class TestNumberKey:
    @pytest.mark.parametrize(
        "typed", ["12/2024/NĐ-CP", "12/2024/nđ-cp", "12/2024/nd-cp", " 12 / 2024 / NĐ \u2013 CP "]
    )
    def test_decree(self, typed):
        assert number_key(typed) == "12/2024/nd-cp"

    def test_official_letter(self):
        assert number_key("3216/BHXH-TT") == number_key("3216\\bhxh—tt") == "3216/bhxh-tt"


class TestTyposAndPrefix:
    @pytest.mark.parametrize(
        ("word", "typos"),
        [
            ("hiem", 0),
            ("thong", 1),
            ("nghiep", 1),
            ("internet", 1),
            ("infographic", 2),
            ("20245", 0),
        ],
    )
    def test_allowed_typos(self, word, typos):
        assert allowed_typos(word) == typos

    def test_last_word_is_a_prefix_until_a_space(self):
        assert last_word_is_prefix("bao hiem th")
        assert not last_word_is_prefix("bao hiem th ")
        assert not last_word_is_prefix("")
