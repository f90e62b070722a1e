"""Video and audio: with ffprobe/ffmpeg installed, duration, dimensions and a poster;
without them (forced here), uploads still work and those fields stay empty."""

from __future__ import annotations

import io
import shutil

import httpx
import pytest
from factories import assert_problem
from media_samples import fixture
from PIL import Image

from services.media.app import create_app
from services.media.av import AvTools

FFPROBE = shutil.which("ffprobe")
needs_ffmpeg = pytest.mark.skipif(
    FFPROBE is None or shutil.which("ffmpeg") is None,
    reason="ffprobe/ffmpeg are not installed (Debian: apt-get install ffmpeg)",
)


@pytest.fixture
async def api_with_ffmpeg(media_settings, media_db, storage, trusting_content):
    app = create_app(
        media_settings,
        database=media_db,
        storage=storage,
        tools=AvTools.find(),
        content=trusting_content,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://media") as http:
            yield http


async def send(api, headers, name, data):
    return await api.post(
        "/v1/media",
        data={"portal": "phu-yen"},
        files={"file": (name, data, "application/octet-stream")},
        headers=headers,
    )


class TestWithoutFfmpeg:
    @pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "tone.mp3"])
    async def test_uploads_work_without_probe_data(self, upload, name):
        r = await upload(name, fixture(name))
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["duration"], body["width"], body["poster"]) == (None, None, None)

    def test_tools_found_on_path_or_not(self, monkeypatch):
        monkeypatch.setattr("services.media.av.shutil.which", lambda _name: None)
        assert AvTools.find() == AvTools(None, None)
        assert AvTools.find("/opt/ffprobe").ffprobe == "/opt/ffprobe"


@needs_ffmpeg
class TestWithFfmpeg:
    async def test_video_duration_dimensions_and_poster(self, api_with_ffmpeg, editor):
        r = await send(api_with_ffmpeg, editor, "phim.mp4", fixture("clip.mp4"))
        body = r.json()
        assert (body["width"], body["height"]) == (96, 64)
        assert body["duration"] == pytest.approx(1.0, abs=0.1)
        poster = await api_with_ffmpeg.get(body["poster"], headers=editor)
        assert poster.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(poster.content)).size == (96, 64)

    async def test_webm_and_mp3(self, api_with_ffmpeg, editor):
        webm = (await send(api_with_ffmpeg, editor, "a.webm", fixture("clip.webm"))).json()
        assert webm["width"] == 96
        mp3 = (await send(api_with_ffmpeg, editor, "a.mp3", fixture("tone.mp3"))).json()
        assert mp3["duration"] == pytest.approx(1.0, abs=0.1)
        assert (mp3["width"], mp3["poster"]) == (None, None)

    async def test_unreadable_video_is_refused(self, api_with_ffmpeg, editor, storage):
        data = bytearray(fixture("clip.mp4"))
        mdat = data.find(b"mdat")
        data[mdat + 4 : mdat + 400] = b"\x00" * 396  # well-formed boxes, garbage frames
        moov = data.find(b"moov")
        data[moov + 8 : moov + 200] = b"\xff" * 192
        r = await send(api_with_ffmpeg, editor, "hong.mp4", bytes(data))
        assert_problem(r, 422)
        assert await storage.keys() == []
