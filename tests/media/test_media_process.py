"""The media service as its own process (`portal serve media`, real uvicorn, real HTTP):
uploads stream in real chunks, downloads serve ranges, an oversize upload is cut off while
it streams and leaves nothing behind."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
from media_samples import fixture, image
from served import portal_serve

from services.common.migrate import upgrade
from services.common.security import TokenIssuer, private_key_from_pem
from services.media.settings import MediaSettings


class _TrustingContent(BaseHTTPRequestHandler):
    """Content's `/v1/me` for the media process: the roles inside the token (the token
    names a user no content database holds; fresh roles are tested in test_fresh_roles)."""

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        claims = jwt.decode(token, options={"verify_signature": False})
        body = json.dumps(
            {
                "id": claims["sub"],
                "username": claims["name"],
                "is_superadmin": claims["sa"],
                "memberships": [{"portal": p, "role": r} for p, r in claims["roles"].items()],
            }
        ).encode()
        self.send_response(200 if self.path == "/v1/me" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def content_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TrustingContent)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def served(tmp_path_factory, signing_key_pem, content_url):
    data_dir = tmp_path_factory.mktemp("media-process")
    (data_dir / "keys").mkdir()
    (data_dir / "keys" / "signing.pem").write_text(signing_key_pem)
    settings = MediaSettings(data_dir=data_dir)
    upgrade("media", settings.resolved_database_url())
    env = {
        "MEDIA_DATA_DIR": str(data_dir),
        "MEDIA_CONTENT_URL": content_url,
        "MEDIA_MAX_IMAGE_BYTES": str(2 * 1024 * 1024),
        "LOG_LEVEL": "WARNING",
    }
    with portal_serve("media", env, data_dir, ready="/readyz") as process:
        issuer = TokenIssuer(
            private_key_from_pem(signing_key_pem),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        token, _ = issuer.issue(
            subject="u1", username="u1", roles={"phu-yen": "editor"}, is_superadmin=False
        )
        yield process.base, {"Authorization": f"Bearer {token}"}, data_dir


def chunked_form(data: bytes, name: str, chunk: int = 7_000):
    def body():
        yield b'--B\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
        disposition = f'form-data; name="file"; filename="{name}"'
        yield f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        for start in range(0, len(data), chunk):  # boundaries fall anywhere
            yield data[start : start + chunk]
        yield b"\r\n--B--\r\n"

    return body()


def test_upload_in_odd_chunks_and_ranged_download(served):
    base, headers, _ = served
    data = fixture("clip.mp4")
    r = httpx.post(
        base + "/v1/media",
        content=chunked_form(data, "Phim ngắn.mp4"),
        headers={**headers, "Content-Type": "multipart/form-data; boundary=B"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    got = httpx.get(base + body["url"], headers={**headers, "Range": "bytes=1000-1999"})
    assert (got.status_code, got.content) == (206, data[1000:2000])
    whole = httpx.get(base + body["url"], headers=headers)
    assert whole.content == data
    assert "Phim%20ng%E1%BA%AFn.mp4" in whole.headers["content-disposition"]


def test_oversize_upload_is_cut_off_and_leaves_nothing(served):
    base, headers, data_dir = served
    before = set((data_dir / "media").rglob("*"))
    big = image("JPEG", (64, 64)) + b"\0" * (8 * 1024 * 1024)  # limit here: 2 MB
    try:
        r = httpx.post(
            base + "/v1/media",
            content=chunked_form(big, "lon.jpg", chunk=64 * 1024),
            headers={**headers, "Content-Type": "multipart/form-data; boundary=B"},
            timeout=30,
        )
        assert r.status_code == 413, r.text
    except httpx.TransportError:
        pass  # the server may close the connection before the client has sent everything
    deadline = time.monotonic() + 5
    while list((data_dir / "media-uploads").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((data_dir / "media-uploads").iterdir()) == []
    assert set((data_dir / "media").rglob("*")) == before
