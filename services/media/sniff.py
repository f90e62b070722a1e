"""What a file is, decided from its bytes (pure; no I/O beyond the file handed in).

`sniff(head)` classifies the first bytes with `filetype` and refuses anything off the
allow-list (markup such as SVG and HTML with a message of its own). ZIP-based documents
look alike in their first bytes, so their exact type is settled by `check_zip_document`
on the whole file: a plain ZIP, a macro-enabled document or a ZIP bomb are refused.
MP4, WebM, MP3 and PDF get structural checks here; images are checked by Pillow
(`services.media.images`).
"""

from __future__ import annotations

import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

import filetype

from services.common.i18n import Msg
from services.media.errors import BadFileName, BrokenFile, UnsupportedMedia

HEAD_BYTES = 8192


@dataclass(frozen=True)
class FileType:
    kind: str
    mime: str
    ext: str
    extensions: frozenset[str]


def _t(kind: str, mime: str, *extensions: str) -> FileType:
    return FileType(kind, mime, extensions[0], frozenset(extensions))


JPEG = _t("image", "image/jpeg", "jpg", "jpeg", "jpe", "jfif")
PNG = _t("image", "image/png", "png")
WEBP = _t("image", "image/webp", "webp")
GIF = _t("image", "image/gif", "gif")
MP4 = _t("video", "video/mp4", "mp4", "m4v")
WEBM = _t("video", "video/webm", "webm")
MP3 = _t("audio", "audio/mpeg", "mp3")
PDF = _t("document", "application/pdf", "pdf")
DOCX = _t(
    "document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "docx",
)
XLSX = _t("document", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
ODT = _t("document", "application/vnd.oasis.opendocument.text", "odt")
ZIP_DOCUMENTS = (DOCX, XLSX, ODT)
ALLOWED = {t.mime: t for t in (JPEG, PNG, WEBP, GIF, MP4, WEBM, MP3, PDF, DOCX, XLSX, ODT)}
_ZIP_MIMES = {"application/zip", *(t.mime for t in ZIP_DOCUMENTS)}
ALLOWED_NAMES = "JPEG, PNG, WebP, GIF, MP4, WebM, MP3, PDF, DOCX, XLSX, ODT"

_MARKUP = re.compile(rb"<\s*(svg|html|!doctype|script|\?xml|body|iframe)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refuse(what: str) -> UnsupportedMedia:
    return UnsupportedMedia(
        Msg(
            "Không chấp nhận {w}. Chỉ nhận: {a}.",
            "{w} is not accepted. Allowed: {a}.",
        ).format(w=what, a=ALLOWED_NAMES)
    )


def sniff(head: bytes) -> FileType:
    """The allowed type the first bytes announce; zip-based documents come back as DOCX
    until `check_zip_document` settles which one. Refuses everything else (415)."""
    if not head:
        raise BrokenFile(Msg("Tệp rỗng (0 byte).", "The file is empty (0 bytes)."))
    guess = filetype.guess(head)
    if guess is None:
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if _MARKUP.search(stripped[:1024]) or stripped.startswith(b"<"):
            raise UnsupportedMedia(
                Msg(
                    "Tệp SVG/HTML/XML không được nhận vì có thể chứa mã chạy trên trình duyệt.",
                    "The file is SVG/HTML/XML: refused because it can carry browser scripts.",
                )
            )
        raise _refuse("loại tệp không nhận ra được / an unrecognised file type")
    if guess.mime in _ZIP_MIMES:
        return DOCX  # kind "document"; the exact type is settled on the whole file
    found = ALLOWED.get(guess.mime)
    if found is None:
        raise _refuse(f"{guess.mime} (.{guess.extension})")
    return found


# Characters that are not seen but change how a name reads: C1 controls, format characters
# (Cf: the bidi overrides U+202A-U+202E and isolates U+2066-U+2069, which make
# "anh\u202egpj.exe" display as "anhexe.jpg", zero-width characters, soft hyphens), line and
# paragraph separators, private-use and surrogate code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})


def visible_name(name: str) -> str:
    """`name` in NFC without invisible or direction-changing characters (Vietnamese
    letters and their tone marks are kept); used when storing and again when serving."""
    name = unicodedata.normalize("NFC", name)
    return "".join(c for c in name if unicodedata.category(c) not in _INVISIBLE)


def clean_filename(raw: str | None) -> str:
    """The client's file name, NFC, without any path or invisible characters; C0 control
    characters (NUL, line breaks…) are refused: no real file name carries them."""
    name = unicodedata.normalize("NFC", raw or "")
    # "%00" is how NUL injection usually arrives (browsers and httpx escape a raw NUL).
    if _CONTROL.search(name) or "%00" in name:
        raise BadFileName(
            Msg(
                "Tên tệp chứa ký tự điều khiển (ví dụ NUL).",
                "The file name contains control characters (such as NUL).",
            )
        )
    name = visible_name(name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().strip(".")
    if len(name) > 255:
        raise BadFileName(
            Msg("Tên tệp dài quá 255 ký tự.", "The file name exceeds 255 characters.")
        )
    return name or "tep"


def check_name(name: str, found: FileType) -> None:
    """A name's extension must agree with the bytes (a name without one is fine)."""
    if "." not in name:
        return
    ext = name.rsplit(".", 1)[1].lower()
    if ext not in found.extensions:
        raise UnsupportedMedia(
            Msg(
                "Tên tệp có đuôi .{e} nhưng nội dung là {m}: không khớp.",
                "The name ends in .{e} but the bytes are {m}: they must agree.",
            ).format(e=ext, m=found.mime)
        )


# --- ZIP-based documents -----------------------------------------------------------------

_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": (
        DOCX,
        "word/document.xml",
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": (
        XLSX,
        "xl/workbook.xml",
    ),
}


def _broken(vi: str, en: str) -> BrokenFile:
    return BrokenFile(Msg(vi, en))


def check_zip_document(path: Path, *, max_uncompressed: int) -> FileType:
    """Which document a ZIP is (DOCX, XLSX or ODT), or refuse it.

    Only the central directory and one small member are read: nothing is unpacked, so a
    ZIP bomb costs nothing to refuse.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > 5000:
                raise _broken("Tài liệu có quá nhiều thành phần.", "Too many ZIP members.")
            total = 0
            for info in infos:
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > 1024 * 1024 and ratio > 100:
                    raise _broken(
                        "Tài liệu có thành phần nén bất thường (bom ZIP).",
                        "A member is compressed suspiciously well (ZIP bomb).",
                    )
            if total > max_uncompressed:
                raise _broken(
                    "Tài liệu giải nén ra quá lớn (bom ZIP).",
                    "The document unpacks to too much data (ZIP bomb).",
                )
            names = {info.filename for info in infos}
            if any(n.lower().endswith("vbaproject.bin") for n in names):
                raise UnsupportedMedia(
                    Msg(
                        "Không nhận tài liệu có macro (VBA).",
                        "Documents with macros (VBA) are not accepted.",
                    )
                )
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if mimetype == ODT.mime and {"content.xml", "META-INF/manifest.xml"} <= names:
                    return ODT
                raise _refuse(f"OpenDocument {mimetype!r}")
            if "[Content_Types].xml" in names:
                with archive.open("[Content_Types].xml") as f:
                    types = f.read(1024 * 1024).decode("utf-8", "replace")
                if "macroEnabled" in types:
                    raise UnsupportedMedia(
                        Msg(
                            "Không nhận tài liệu có macro.",
                            "Macro-enabled documents are not accepted.",
                        )
                    )
                for main, (found, part) in _OOXML_MAIN.items():
                    if main in types and part in names:
                        return found
            raise UnsupportedMedia(
                Msg(
                    "Tệp là ZIP thường, không phải DOCX/XLSX/ODT.",
                    "The file is a plain ZIP, not a DOCX/XLSX/ODT document.",
                )
            )
    except zipfile.BadZipFile as exc:
        raise _broken("Tệp ZIP/tài liệu bị hỏng.", "The ZIP/document is corrupt.") from exc


# --- PDF ---------------------------------------------------------------------------------

_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|RichMedia)\b")


def check_pdf(path: Path) -> None:
    """A whole PDF (header and end marker) without JavaScript, launch actions or embedded
    files (scanned in the raw bytes; compressed object streams are not unpacked)."""
    with open(path, "rb") as f:
        if not re.match(rb"%PDF-[12]\.\d", f.read(8)):
            raise _broken("Tệp PDF thiếu phần đầu.", "The PDF header is missing.")
        size = f.seek(0, 2)
        f.seek(max(0, size - 2048))
        if b"%%EOF" not in f.read():
            raise _broken(
                "Tệp PDF bị cắt cụt (thiếu %%EOF).", "The PDF is truncated (no %%EOF marker)."
            )
        f.seek(0)
        tail = b""
        while chunk := f.read(1024 * 1024):
            window = tail + chunk
            match = _PDF_ACTIVE.search(window)
            if match:
                raise UnsupportedMedia(
                    Msg(
                        "PDF chứa nội dung chủ động ({n}): không được chấp nhận.",
                        "The PDF carries active content ({n}): not accepted.",
                    ).format(n=match.group(1).decode())
                )
            tail = window[-32:]


# --- MP4, WebM, MP3 ----------------------------------------------------------------------


def check_mp4(path: Path) -> None:
    """The top-level boxes tile the file exactly and include `moov` and media data."""
    seen: list[bytes] = []
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        offset = 0
        while offset < size:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                raise _broken("MP4 bị cắt cụt.", "The MP4 is truncated.")
            length, box = struct.unpack(">I4s", header[:8])
            if length == 1:
                if len(header) < 16:
                    raise _broken("MP4 bị cắt cụt.", "The MP4 is truncated.")
                length = struct.unpack(">Q", header[8:16])[0]
            elif length == 0:
                length = size - offset
            if length < 8 or offset + length > size:
                raise _broken("MP4 hỏng hoặc bị cắt cụt.", "The MP4 is corrupt or truncated.")
            seen.append(box)
            offset += length
    if not seen or seen[0] != b"ftyp" or b"moov" not in seen:
        raise _broken("MP4 không có dữ liệu phim (moov).", "The MP4 has no movie box (moov).")
    if b"mdat" not in seen and b"moof" not in seen:
        raise _broken("MP4 không có dữ liệu hình/tiếng.", "The MP4 has no media data.")


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    """An EBML variable-length integer at `pos`: (value, its length)."""
    first = data[pos]
    for width in range(1, 9):
        if first & (0x80 >> (width - 1)):
            value = first & ((0x80 >> (width - 1)) - 1)
            for b in data[pos + 1 : pos + width]:
                value = (value << 8) | b
            return value, width
    raise ValueError("bad vint")


def check_webm(path: Path) -> None:
    """An EBML header of DocType webm followed by a Segment."""
    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        if head[:4] != b"\x1a\x45\xdf\xa3" or b"webm" not in head[:64]:
            raise ValueError("not webm")
        size, width = _vint(head, 4)
        segment = 4 + width + size
        if head[segment : segment + 4] != b"\x18\x53\x80\x67":
            raise ValueError("no segment")
    except (ValueError, IndexError) as exc:
        raise _broken("WebM hỏng hoặc bị cắt cụt.", "The WebM is corrupt or truncated.") from exc


_MP3_BITRATES = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]
_MP3_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def _mp3_frame(data: bytes, pos: int) -> int | None:
    """The length of the MPEG layer III frame at `pos`, or None when there is none."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 3
    layer = (data[pos + 1] >> 1) & 3
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _MP3_BITRATES[bitrate_index] * 1000
    if version != 3:
        bitrate //= 2  # MPEG-2/2.5 layer III: approximately half the table; enough here
    rate = _MP3_RATES[version][rate_index]
    padding = (data[pos + 2] >> 1) & 1
    factor = 144 if version == 3 else 72
    return factor * bitrate // rate + padding


def check_mp3(path: Path) -> None:
    """Two consecutive MPEG audio frames after any ID3v2 tag."""
    with open(path, "rb") as f:
        head = f.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:
            start = 10 + (
                (head[6] & 0x7F) << 21
                | (head[7] & 0x7F) << 14
                | (head[8] & 0x7F) << 7
                | head[9] & 0x7F
            )
        f.seek(start)
        data = f.read(64 * 1024)
    for pos in range(min(len(data), 4096)):
        length = _mp3_frame(data, pos)
        if length and (pos + length >= len(data) or _mp3_frame(data, pos + length)):
            return
    raise _broken("MP3 không có khung âm thanh hợp lệ.", "The MP3 has no valid audio frames.")
