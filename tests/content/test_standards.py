"""Posting standards: every problem at once, in Vietnamese and English."""

import unicodedata
from dataclasses import replace

import pytest

from services.content.standards import (
    Draft,
    PostingStandard,
    StandardsNotMet,
    check,
    enforce,
)

STANDARD = PostingStandard()
GOOD = Draft(
    title="BHXH tỉnh Phú Yên đẩy mạnh chi trả lương hưu qua tài khoản",
    lead="Trong quý I, tỷ lệ người hưởng nhận lương hưu qua tài khoản ngân hàng tăng mạnh.",
    body_text="Theo BHXH tỉnh Phú Yên, đến hết tháng 3 đã có hơn 60% người hưởng nhận qua ATM.",
    category_id="cat-tin-tuc",
    category_exists=True,
    featured_media_id="media-1",
    featured_caption="Người dân nhận lương hưu tại điểm chi trả",
    author="Nguyễn Văn An",
    source="BHXH tỉnh Phú Yên",
)
EMPTY = Draft(
    title="",
    lead=None,
    body_text="",
    category_id=None,
    category_exists=False,
    featured_media_id=None,
    featured_caption=None,
    author=None,
    source=None,
)


def codes(draft, standard=STANDARD):
    return [(e.field, e.code) for e in check(draft, standard)]


class TestCheck:
    def test_good_draft_passes(self):
        assert check(GOOD, STANDARD) == []

    def test_empty_draft_reports_everything_at_once(self):
        assert codes(EMPTY) == [
            ("title", "required"),
            ("lead", "required"),
            ("body", "required"),
            ("category_id", "required"),
            ("featured_media_id", "required"),
            ("featured_caption", "required"),
            ("author", "required"),
            ("source", "required"),
        ]

    def test_blank_strings_count_as_missing(self):
        blank = Draft("  ", " \n", "\t", " ", False, " ", " ", " ", "  ")
        assert len(check(blank, STANDARD)) == 8

    @pytest.mark.parametrize(
        ("length", "expected"),
        [(9, [("title", "too_short")]), (10, []), (200, []), (201, [("title", "too_long")])],
    )
    def test_title_boundaries(self, length, expected):
        assert codes(replace(GOOD, title="a" * length)) == expected

    @pytest.mark.parametrize(
        ("length", "expected"),
        [(29, [("lead", "too_short")]), (30, []), (600, []), (601, [("lead", "too_long")])],
    )
    def test_lead_boundaries(self, length, expected):
        assert codes(replace(GOOD, lead="b" * length)) == expected

    def test_lengths_count_after_nfc_and_strip(self):
        title = unicodedata.normalize("NFD", "Bảo hiểm")  # 8 characters in NFC, 11 in NFD
        assert len(title) == 11
        (error,) = check(replace(GOOD, title=f"  {title}  "), STANDARD)
        assert error.code == "too_short"
        assert "(hiện có 8)" in error.message.vi

    def test_nfd_title_at_the_limit_is_not_too_long(self):
        title = unicodedata.normalize("NFD", "ể" * 200)
        assert codes(replace(GOOD, title=title)) == []

    def test_messages_carry_the_numbers_in_both_languages(self):
        (error,) = check(replace(GOOD, title="Tin"), STANDARD)
        assert error.message.vi == "Tiêu đề phải có ít nhất 10 ký tự (hiện có 3)."
        assert error.message.en == "The title must have at least 10 characters (it has 3)."

    def test_too_long_message(self):
        (error,) = check(replace(GOOD, lead="x" * 700), STANDARD)
        assert "600" in error.message.vi
        assert "700" in error.message.vi
        assert "600" in error.message.en
        assert "700" in error.message.en

    def test_unknown_category(self):
        assert codes(replace(GOOD, category_exists=False)) == [("category_id", "unknown_category")]

    def test_unknown_category_even_when_not_required(self):
        standard = replace(STANDARD, require_category=False)
        draft = replace(GOOD, category_exists=False)
        assert codes(draft, standard) == [("category_id", "unknown_category")]

    def test_caption_needed_for_a_given_image(self):
        standard = replace(STANDARD, require_featured_image=False)
        assert codes(replace(GOOD, featured_caption=""), standard) == [
            ("featured_caption", "required")
        ]
        assert codes(replace(GOOD, featured_media_id=None, featured_caption=None), standard) == []

    def test_relaxed_standard_accepts_a_bare_draft(self):
        relaxed = PostingStandard(
            title_min=1,
            lead_min=0,
            require_body=False,
            require_category=False,
            require_featured_image=False,
            require_caption=False,
            require_author=False,
            require_source=False,
        )
        assert codes(replace(EMPTY, title="Tin"), relaxed) == []
        assert codes(EMPTY, relaxed) == [("title", "required")]

    def test_custom_lengths(self):
        strict = PostingStandard.from_config({"title_min": 20, "title_max": 40})
        (error,) = check(replace(GOOD, title="Chi trả lương hưu"), strict)
        assert (error.field, error.code) == ("title", "too_short")
        assert "20" in error.message.en
        assert "17" in error.message.en


class TestEnforce:
    def test_good_draft(self):
        enforce(GOOD, STANDARD)

    def test_raises_with_every_error(self):
        with pytest.raises(StandardsNotMet) as caught:
            enforce(EMPTY, STANDARD)
        problem = caught.value
        assert problem.status == 422
        assert problem.slug == "standards-not-met"
        assert problem.title.vi == "Bài viết chưa đạt chuẩn đăng tải"
        assert len(problem.errors) == 8
        assert "8" in problem.detail.vi


class TestPostingStandardConfig:
    def test_round_trip(self):
        standard = PostingStandard(title_min=5, require_source=False)
        assert PostingStandard.from_config(standard.to_config()) == standard

    def test_defaults(self):
        assert PostingStandard.from_config({}) == PostingStandard()
        assert PostingStandard().to_config()["lead_max"] == 600

    def test_unknown_key(self):
        with pytest.raises(ValueError, match="title_length"):
            PostingStandard.from_config({"title_length": 10})

    @pytest.mark.parametrize(
        "config",
        [
            {"title_min": "10"},
            {"title_min": True},
            {"require_body": 1},
            {"title_min": -1},
            {"lead_min": 700},
        ],
    )
    def test_bad_values(self, config):
        with pytest.raises(ValueError):  # noqa: PT011
            PostingStandard.from_config(config)
