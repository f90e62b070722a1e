"""What decoding an image will cost, read from its headers before any pixel is decoded.

An animation is decoded frame by frame onto a canvas of its full size, so its cost is
frames x canvas pixels: a 240 KB GIF of 19 frames of 4000 x 4000 took 12.5 s of CPU and
446 MB to clean. Pillow's own `n_frames` is no help in advance (for WebP it builds the
decoder, which allocates the canvas), so GIF blocks, PNG chunks (APNG) and WebP chunks are
walked here, in pure Python over the bytes already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.i18n import Msg
from services.media.errors import AnimationTooLarge


@dataclass(frozen=True)
class Cost:
    frames: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.frames * self.width * self.height


def _le(data: bytes, at: int, size: int) -> int:
    return int.from_bytes(data[at : at + size], "little")


def _gif_blocks(data: bytes, pos: int) -> int:
    """The position after a chain of GIF data sub-blocks starting at `pos`."""
    while pos < len(data):
        size = data[pos]
        pos += 1 + size
        if size == 0:
            break
    return pos


def gif_cost(data: bytes, *, stop_after: int) -> Cost:
    """Frames and canvas of a GIF (the logical screen, grown to any frame that overflows it,
    as decoders do); counting stops past `stop_after` frames."""
    width, height = _le(data, 6, 2), _le(data, 8, 2)
    flags = data[10] if len(data) > 10 else 0
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while pos < len(data) and frames <= stop_after:
        marker = data[pos]
        if marker == 0x21:  # extension: label, then sub-blocks
            pos = _gif_blocks(data, pos + 2)
        elif marker == 0x2C:  # image descriptor
            left, top = _le(data, pos + 1, 2), _le(data, pos + 3, 2)
            w, h, local = _le(data, pos + 5, 2), _le(data, pos + 7, 2), data[pos + 9 : pos + 10]
            width, height = max(width, left + w), max(height, top + h)
            pos += 10
            if local and local[0] & 0x80:
                pos += 3 << ((local[0] & 7) + 1)
            pos = _gif_blocks(data, pos + 1)  # after the LZW minimum code size
            frames += 1
        else:  # the trailer, or garbage Pillow will refuse
            break
    return Cost(max(frames, 1), width, height)


def png_cost(data: bytes) -> Cost:
    """Frames (APNG's `acTL` count, or its `fcTL` chunks if more) and size of a PNG."""
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    declared = controls = 0
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"acTL":
            declared = int.from_bytes(data[pos + 8 : pos + 12], "big")
        elif kind == b"fcTL":
            controls += 1
        elif kind == b"IEND":
            break
        pos += 12 + length
    return Cost(max(declared, controls, 1), width, height)


def webp_cost(data: bytes) -> Cost:
    """Frames (`ANMF` chunks) and canvas (`VP8X`) of a WebP; a simple WebP is one frame of
    the size in its `VP8 `/`VP8L` header."""
    width = height = frames = 0
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        size = _le(data, pos + 4, 4)
        body = pos + 8
        if kind == b"VP8X":
            width, height = 1 + _le(data, body + 4, 3), 1 + _le(data, body + 7, 3)
        elif kind == b"ANMF":
            frames += 1
        elif kind == b"VP8 " and not width and data[body + 3 : body + 6] == b"\x9d\x01\x2a":
            width, height = _le(data, body + 6, 2) & 0x3FFF, _le(data, body + 8, 2) & 0x3FFF
        elif kind == b"VP8L" and not width and data[body : body + 1] == b"\x2f":
            bits = _le(data, body + 1, 4)
            width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        pos = body + size + (size & 1)
    return Cost(max(frames, 1), width, height)


def cost_of(data: bytes, mime: str, *, stop_after: int) -> Cost | None:
    """Frames and canvas of a GIF, PNG or WebP from its headers (None for a JPEG, whose
    size Pillow reads from its header and which has one frame)."""
    if mime == "image/gif":
        return gif_cost(data, stop_after=stop_after)
    if mime == "image/png":
        return png_cost(data)
    if mime == "image/webp":
        return webp_cost(data)
    return None


def check_animation(cost: Cost, *, max_pixels: int, max_frames: int) -> None:
    """Refuse (422 `animation-too-large`) an animation whose frames x canvas pixels exceed
    `max_pixels`, or with more than `max_frames` frames."""
    if cost.frames <= 1 or (cost.frames <= max_frames and cost.pixels <= max_pixels):
        return
    raise AnimationTooLarge(
        Msg(
            "Ảnh động quá nặng để xử lý: {f} khung hình {w}x{h} ({mp} triệu điểm ảnh) vượt "
            "giới hạn {lim} triệu điểm ảnh và {mf} khung hình; hãy giảm số khung hình "
            "hoặc kích thước.",
            "The animation is too heavy to process: {f} frames of {w}x{h} ({mp} million "
            "pixels) exceed the budget of {lim} million pixels and {mf} frames; use fewer "
            "frames or a smaller size.",
        ).format(
            f=f">{max_frames}" if cost.frames > max_frames else cost.frames,
            w=cost.width,
            h=cost.height,
            mp=round(cost.pixels / 1e6, 1),
            lim=round(max_pixels / 1e6, 1),
            mf=max_frames,
        )
    )
