"""Images with Pillow: check, clean (no EXIF/GPS, orientation applied) and resize.

Everything here is synchronous and CPU-bound; the service runs it in a worker thread.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from services.common.i18n import Msg
from services.media.errors import BrokenFile
from services.media.frames import check_animation, cost_of
from services.media.sniff import FileType

# Maximum width of each rendition; `thumb` is a square cropped around the focal point.
RENDITIONS = {"thumb": 160, "small": 480, "medium": 960, "large": 1600}
FORMATS = {"webp": "image/webp", "jpeg": "image/jpeg"}
_HOSTILE = re.compile(
    rb"<\?php|<script|<html|<svg|<iframe|<body|PK\x03\x04|PK\x05\x06", re.IGNORECASE
)
_PIL_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    width: int
    height: int


def _broken(vi: str, en: str) -> BrokenFile:
    return BrokenFile(Msg(vi, en))


def _truncated(what: str) -> BrokenFile:
    return BrokenFile(
        Msg("Ảnh {w} bị cắt cụt hoặc hỏng cấu trúc.", "The {w} is truncated or malformed.").format(
            w=what
        )
    )


def _jpeg_end(data: bytes) -> int:
    """Where a JPEG's EOI marker ends, found by walking its segments (an EXIF thumbnail's
    own EOI sits inside a segment and is skipped)."""
    if data[:2] != b"\xff\xd8":
        raise _truncated("JPEG")
    pos = 2
    while pos + 1 < len(data):
        if data[pos] != 0xFF:
            raise _truncated("JPEG")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return pos + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > len(data):
            break
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # entropy-coded data runs to the next real marker
            while True:
                at = data.find(b"\xff", pos)
                if at < 0 or at + 1 >= len(data):
                    raise _truncated("JPEG")
                following = data[at + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos = at + 1
                    continue
                pos = at
                break
    raise _truncated("JPEG")


def _png_end(data: bytes) -> int:
    """Where a PNG's IEND chunk ends, found by walking its chunks."""
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    raise _truncated("PNG")


def _check_no_trailer(data: bytes, mime: str) -> None:
    """Bytes after the image's own end are how polyglots hide a second file."""
    if mime == "image/jpeg":
        end = _jpeg_end(data)
    elif mime == "image/png":
        end = _png_end(data)
    elif mime == "image/webp":
        end = int.from_bytes(data[4:8], "little") + 8
        end += end % 2  # RIFF pads odd sizes
    else:  # GIF: no length to walk cheaply; it must end with its trailer and carry no ZIP
        stripped = data.rstrip(b"\x00")
        end = len(stripped)
        if not stripped.endswith(b"\x3b") or b"PK\x05\x06" in data[-66_000:]:
            end = -1
    if end < 0 or end > len(data) or data[end:].strip(b"\x00"):
        raise _broken(
            "Ảnh có dữ liệu lạ phía sau điểm kết thúc (tệp đa định dạng).",
            "The image has data after its end (a polyglot file).",
        )


def _check_metadata(image: Image.Image) -> None:
    """Code hidden in metadata (EXIF, XMP, comments, text chunks) is refused; the pixel
    data is not scanned (compressed bytes match short patterns by chance)."""
    values = [*image.info.values(), *(value for _, value in getattr(image, "applist", []))]
    for value in values:
        raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
        if not isinstance(raw, bytes):
            continue
        hostile = _HOSTILE.search(raw)
        if hostile:
            raise BrokenFile(
                Msg(
                    "Siêu dữ liệu của ảnh chứa mã hoặc tệp khác ({m}).",
                    "The image's metadata hides code or another file ({m}).",
                ).format(m=hostile.group(0)[:8].decode("latin-1"))
            )


def clean_image(
    path: Path,
    found: FileType,
    *,
    max_pixels: int,
    max_animation_pixels: int,
    max_animation_frames: int,
) -> CleanImage:
    """The image re-encoded without metadata, orientation applied; refuses broken,
    hostile or oversized images (decompression bombs, animations over the frames x pixels
    budget) with 422, oversized ones from their headers before any pixel is decoded."""
    data = path.read_bytes()
    _check_no_trailer(data, found.mime)
    cost = cost_of(data, found.mime, stop_after=max_animation_frames)
    if cost is not None:
        if cost.width * cost.height > max_pixels:
            raise _bomb()
        check_animation(cost, max_pixels=max_animation_pixels, max_frames=max_animation_frames)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            _check_pixels(probe, max_pixels)
            _check_metadata(probe)
            if probe.format != _PIL_FORMAT[found.mime]:
                raise _broken("Nội dung ảnh không khớp định dạng.", "The image format is wrong.")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return _reencode(image, found.mime)
    except BrokenFile:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb() from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BrokenFile(
            Msg(
                "Ảnh hỏng hoặc bị cắt cụt ({e}).", "The image is corrupt or truncated ({e})."
            ).format(e=str(exc)[:120])
        ) from exc


def _bomb() -> BrokenFile:
    return _broken(
        "Ảnh có số điểm ảnh quá lớn (bom giải nén).",
        "The image has too many pixels (a decompression bomb).",
    )


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    # Animations were weighed from their headers (`services.media.frames`) already.
    if image.width * image.height > max_pixels:
        raise _bomb()


# What a re-encoded image keeps of the original's `info`: its colours and, for animations,
# their timing and transparency. Pillow writes some other keys back when saving (JPEG
# comments, XMP), so everything else is dropped before saving: no EXIF, GPS, XMP, comments.
_KEPT_INFO = {"icc_profile", "duration", "loop", "transparency", "background", "disposal"}


def _strip_info(image: Image.Image) -> None:
    image.info = {k: v for k, v in image.info.items() if k in _KEPT_INFO}


def _reencode(image: Image.Image, mime: str) -> CleanImage:
    out = io.BytesIO()
    if getattr(image, "n_frames", 1) > 1:
        # Animated GIF/WebP: the frames are kept; each frame's info is read by the encoder
        # as it seeks, so a comment is blanked explicitly.
        _strip_info(image)
        image.save(out, format=_PIL_FORMAT[mime], save_all=True, optimize=False, comment=b"")
        return CleanImage(out.getvalue(), image.width, image.height)
    icc = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)
    if upright is image:
        upright = image.copy()
    _strip_info(upright)
    colours: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if mime == "image/jpeg":
        if upright.mode not in {"RGB", "L", "CMYK"}:
            upright = upright.convert("RGB")
        upright.save(out, format="JPEG", quality=92, **colours)
    elif mime == "image/webp":
        upright.save(out, format="WEBP", quality=90, **colours)
    elif mime == "image/png":
        upright.save(out, format="PNG", **colours)
    else:
        upright.save(out, format="GIF")
    return CleanImage(out.getvalue(), upright.width, upright.height)


def _crop_square(image: Image.Image, focal: tuple[float, float]) -> Image.Image:
    side = min(image.width, image.height)
    cx, cy = focal[0] * image.width, focal[1] * image.height
    left = int(min(max(cx - side / 2, 0), image.width - side))
    top = int(min(max(cy - side / 2, 0), image.height - side))
    return image.crop((left, top, left + side, top + side))


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, format="WEBP", quality=80, method=4)
    else:
        if image.mode != "RGB":
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A") if "A" in image.getbands() else None)
            image = flat
        image.save(out, format="JPEG", quality=82, progressive=True)
    return out.getvalue()


def make_renditions(
    data: bytes, focal: tuple[float, float] | None = None
) -> dict[tuple[str, str], bytes]:
    """Every rendition in every format of a clean image: {(name, "webp"|"jpeg"): bytes}.

    Never upscales. A JPEG is decoded at a reduced scale (`draft`) big enough for the
    largest rendition; each smaller size is resized from the previous one.
    """
    focal = focal or (0.5, 0.5)
    with Image.open(io.BytesIO(data)) as opened:
        largest = RENDITIONS["large"]
        if opened.format == "JPEG" and opened.width > largest:
            opened.draft("RGB", (largest, max(1, largest * opened.height // opened.width)))
        opened.seek(0)
        source = opened.convert("RGBA" if _has_alpha(opened) else "RGB")
    out: dict[tuple[str, str], bytes] = {}
    current = source
    for name in ("large", "medium", "small"):
        width = min(RENDITIONS[name], current.width)
        if width < current.width:
            height = max(1, round(current.height * width / current.width))
            current = current.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        for fmt in FORMATS:
            out[name, fmt] = _encode(current, fmt)
    square = _crop_square(current, focal)
    side = min(RENDITIONS["thumb"], square.width)
    thumb = square.resize((side, side), Image.Resampling.LANCZOS)
    for fmt in FORMATS:
        out["thumb", fmt] = _encode(thumb, fmt)
    return out


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in {"RGBA", "LA", "PA"} or (
        image.mode == "P" and "transparency" in image.info
    )


def poster_from_frame(data: bytes) -> bytes:
    """A JPEG poster (at most 1600 wide) from one decoded video frame."""
    with Image.open(io.BytesIO(data)) as frame:
        frame.load()
        image = frame.convert("RGB")
    image.thumbnail((1600, 1600), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
