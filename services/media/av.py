"""Video and audio with ffprobe/ffmpeg (Debian: `apt-get install ffmpeg`), when installed.

Without them uploads still work: duration, dimensions and posters are simply absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.common.i18n import Msg
from services.media.errors import BrokenFile
from services.media.images import poster_from_frame

TIMEOUT = 60


@dataclass(frozen=True)
class AvTools:
    ffprobe: str | None
    ffmpeg: str | None

    @classmethod
    def find(cls, ffprobe: str | None = None, ffmpeg: str | None = None) -> AvTools:
        """The configured binaries, else those on PATH, else none."""
        return cls(ffprobe or shutil.which("ffprobe"), ffmpeg or shutil.which("ffmpeg"))


@dataclass(frozen=True)
class AvInfo:
    duration: float | None
    width: int | None
    height: int | None
    poster: bytes | None


def probe(path: Path, kind: str, tools: AvTools) -> AvInfo | None:
    """Duration, dimensions and (for video) a poster; None when ffprobe is absent.

    A file ffprobe cannot read, or without a stream of its kind, is refused (422).
    """
    if tools.ffprobe is None:
        return None
    try:
        result = subprocess.run(
            [
                tools.ffprobe,
                "-v",
                "error",
                "-print_format",
                "json",
                "-show_format",
                "-show_streams",
                str(path),
            ],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        info = json.loads(result.stdout or b"{}")
    except (subprocess.TimeoutExpired, ValueError) as exc:
        raise _unreadable() from exc
    streams = info.get("streams") or []
    wanted = "video" if kind == "video" else "audio"
    stream = next((s for s in streams if s.get("codec_type") == wanted), None)
    if result.returncode != 0 or stream is None:
        raise _unreadable()
    duration = _float(info.get("format", {}).get("duration")) or _float(stream.get("duration"))
    width = stream.get("width") if kind == "video" else None
    height = stream.get("height") if kind == "video" else None
    poster = _poster(path, duration, tools) if kind == "video" else None
    return AvInfo(duration, width, height, poster)


def _unreadable() -> BrokenFile:
    return BrokenFile(
        Msg(
            "Không đọc được tệp hình/tiếng (hỏng hoặc bị cắt cụt).",
            "The video/audio cannot be read (corrupt or truncated).",
        )
    )


def _float(value: object) -> float | None:
    try:
        return round(float(str(value)), 3)
    except ValueError:
        return None


def _poster(path: Path, duration: float | None, tools: AvTools) -> bytes | None:
    if tools.ffmpeg is None:
        return None
    at = min(1.0, (duration or 0) / 2)
    try:
        result = subprocess.run(
            [
                tools.ffmpeg,
                "-v",
                "error",
                "-ss",
                f"{at:.3f}",
                "-i",
                str(path),
                "-frames:v",
                "1",
                "-f",
                "image2pipe",
                "-vcodec",
                "png",
                "-",
            ],
            capture_output=True,
            timeout=TIMEOUT,
            check=False,
        )
        if result.returncode != 0 or not result.stdout:
            return None
        return poster_from_frame(result.stdout)
    except (subprocess.TimeoutExpired, OSError):
        return None
