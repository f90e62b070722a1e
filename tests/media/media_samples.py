"""Files made by code for the media tests: real files of every allowed kind, and a
corpus of hostile or broken ones."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from PIL import ExifTags, Image

FIXTURES = Path(__file__).parent / "fixtures"


def image(fmt: str = "JPEG", size: tuple[int, int] = (640, 480), **save: object) -> bytes:
    """A picture with a left half red and a right half blue (orientation is visible)."""
    img = Image.new("RGB", size, (200, 20, 20))
    img.paste((20, 20, 200), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    img.save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_exif(size: tuple[int, int] = (640, 480), orientation: int = 6) -> bytes:
    """A JPEG carrying GPS coordinates, a camera model and an orientation tag."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Model] = "Camera BHXH"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (13.0, 5.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (109.0, 18.0, 0.0)
    return image("JPEG", size, exif=exif.tobytes())


def animated_gif(comment: bytes = b"") -> bytes:
    """Three frames of different colours (identical frames would be merged)."""
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200)]
    frames = [Image.new("RGB", (64, 48), c) for c in colours]
    out = io.BytesIO()
    options = {"comment": comment} if comment else {}
    frames[0].save(
        out, format="GIF", save_all=True, append_images=frames[1:], duration=100, **options
    )
    return out.getvalue()


def pdf() -> bytes:
    """A real one-page PDF (Pillow writes it)."""
    out = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(out, format="PDF")
    return out.getvalue()


_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{part}" ContentType="{main}"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="{part}"/></Relationships>'
)
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
SHEET_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


def _zip(members: dict[str, bytes | str], *, stored_first: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (name, data) in enumerate(members.items()):
            kind = zipfile.ZIP_STORED if stored_first and i == 0 else zipfile.ZIP_DEFLATED
            z.writestr(name, data, compress_type=kind)
    return out.getvalue()


def docx(
    text: str = "Quyết định số 3216/BHXH-TT", *, extra: dict[str, bytes] | None = None
) -> bytes:
    """A minimal but well-formed Word document."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats'
        f'.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    return _zip(
        {
            "[Content_Types].xml": _DOCX_TYPES.format(part="word/document.xml", main=WORD_MAIN),
            "_rels/.rels": _RELS.format(part="word/document.xml"),
            "word/document.xml": body,
            **(extra or {}),
        }
    )


def xlsx() -> bytes:
    workbook = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org'
        '/spreadsheetml/2006/main"><sheets/></workbook>'
    )
    return _zip(
        {
            "[Content_Types].xml": _DOCX_TYPES.format(part="xl/workbook.xml", main=SHEET_MAIN),
            "_rels/.rels": _RELS.format(part="xl/workbook.xml"),
            "xl/workbook.xml": workbook,
        }
    )


def odt() -> bytes:
    return _zip(
        {
            "mimetype": "application/vnd.oasis.opendocument.text",
            "content.xml": '<?xml version="1.0"?><office:document-content '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>',
            "META-INF/manifest.xml": '<?xml version="1.0"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
        },
        stored_first=True,
    )


def fixture(name: str) -> bytes:
    """Real MP4 (H.264), WebM (VP8) and MP3 clips of one second, made with ffmpeg."""
    return (FIXTURES / name).read_bytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` by `height` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_bad_crc() -> bytes:
    data = bytearray(image("PNG", (32, 32)))
    crc_at = 8 + 8 + 13  # signature, IHDR length+type, IHDR data
    data[crc_at] ^= 0xFF
    return bytes(data)


def jpeg_with_php_in_exif() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = "<?php system($_GET['c']); ?>"
    return image("JPEG", (64, 64), exif=exif.tobytes())


def zip_bomb_docx() -> bytes:
    """A well-formed DOCX one of whose members unpacks to 12 MB of zeros (1000:1)."""
    return docx(extra={"word/media/filler.bin": b"\x00" * (12 * 1024 * 1024)})


def exe() -> bytes:
    """The start of a Windows PE executable."""
    dos = bytearray(b"MZ" + b"\x90\x00" * 29 + b"\x00" * 2)
    dos += b"\x00" * (0x3C - len(dos)) + struct.pack("<I", 0x40)
    dos += b"\x00" * (0x40 - len(dos)) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 300
    return bytes(dos)


def hostile_corpus() -> list[tuple[str, str, bytes, int]]:
    """(case, file name, bytes, expected status) — every one must be refused."""
    jpeg = image("JPEG", (64, 64))
    gif = image("GIF", (32, 32))
    plain_zip = _zip({"readme.txt": "xin chào"})
    return [
        ("html named .jpg", "anh.jpg", b"<!DOCTYPE html><html><script>alert(1)</script>", 415),
        (
            "svg with script",
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            415,
        ),
        ("svg named .png", "logo.png", b'<?xml version="1.0"?><svg/>', 415),
        ("plain html", "trang.html", b"<html><body>hi</body></html>", 415),
        ("empty file", "rong.jpg", b"", 422),
        ("truncated jpeg", "cut.jpg", jpeg[: len(jpeg) // 2], 422),
        ("png claiming 100000x100000", "bomb.png", png_claiming(100_000, 100_000), 422),
        ("png with a bad crc", "crc.png", png_bad_crc(), 422),
        (
            "webp header with garbage",
            "rac.webp",
            b"RIFF" + struct.pack("<I", 200) + b"WEBPVP8 " + b"\x00" * 196,
            422,
        ),
        ("gif with a script trailer", "anim.gif", gif + b"<script>alert(1)</script>", 422),
        ("jpeg with php in exif", "php.jpg", jpeg_with_php_in_exif(), 422),
        ("gifar polyglot (gif + zip)", "gifar.gif", gif + plain_zip, 422),
        ("jpeg + zip polyglot", "poly.jpg", jpeg + plain_zip, 422),
        ("jpeg + zip + a second end marker", "poly2.jpg", jpeg + plain_zip + b"\xff\xd9", 422),
        (
            "png + zip + a second IEND",
            "poly.png",
            image("PNG", (16, 16)) + plain_zip + _png_chunk(b"IEND", b""),
            422,
        ),
        ("zip disguised as docx", "van-ban.docx", plain_zip, 415),
        ("zip bomb docx", "bom.docx", zip_bomb_docx(), 422),
        (
            "docx without document.xml",
            "thieu.docx",
            _zip(
                {
                    "[Content_Types].xml": _DOCX_TYPES.format(
                        part="word/document.xml", main=WORD_MAIN
                    )
                }
            ),
            415,
        ),
        ("docx with macros", "macro.docx", docx(extra={"word/vbaProject.bin": b"VBA"}), 415),
        ("renamed exe", "setup.pdf", exe(), 415),
        ("elf binary named .mp3", "nhac.mp3", b"\x7fELF\x02\x01\x01" + b"\x00" * 200, 415),
        (
            "mp4 with only an ftyp box",
            "phim.mp4",
            struct.pack(">I4s4sI", 20, b"ftyp", b"isom", 512) + b"isom",
            422,
        ),
        ("truncated mp4", "cut.mp4", fixture("clip.mp4")[:1500], 422),
        ("truncated pdf", "cut.pdf", pdf()[:300], 422),
        (
            "pdf with javascript",
            "js.pdf",
            pdf().replace(
                b"/Type /Catalog",
                b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>",
            ),
            415,
        ),
        ("double extension", "anh.jpg.html", jpeg, 415),
        ("pdf with an image name", "anh.png", pdf(), 415),
        (
            "mp3 without audio frames",
            "tieng.mp3",
            b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 600,
            422,
        ),
        ("plain text", "ghi-chu.txt", "Bảo hiểm xã hội".encode(), 415),
    ]
