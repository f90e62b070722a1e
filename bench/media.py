"""Media: server memory during a 1 GB upload, 24-megapixel renditions, download throughput.

    upload     a 1 GiB MP4 (a real one-second clip followed by a 1 GiB `free` box, so the
               file is a valid MP4 that ffprobe reads) streamed as multipart to `portal
               serve media` in its own process; the server's peak RSS (VmHWM from
               /proc/<pid>/status) before (after a small warm-up upload) and after
    renditions a synthetic 24 MP (6000x4000) photo-like JPEG, in-process: the upload's
               cleaning (decode, orientation, re-encode without metadata) and the four
               renditions (thumb/small/medium/large, WebP + JPEG); median of 3 runs
    download   the stored 1 GiB original, read whole over HTTP: straight from the media
               service, through the gateway (`portal serve gateway` proxying to it), and
               the baseline: the same file from a static-file server (`python -m
               http.server`) in the same run
    upload via another 1 GiB upload through the gateway, sampling the RSS of both the
    gateway    gateway and the media service every 20 ms

    python bench/media.py --size-mb 1024

Results go to bench/out/media-<timestamp>.json and are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw, ImageFilter
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.run_content import free_port, server  # noqa: E402
from services.common.security import (  # noqa: E402
    TokenIssuer,
    load_or_create_private_key,
)
from services.media.images import clean_image, make_renditions  # noqa: E402
from services.media.sniff import JPEG  # noqa: E402

console = Console()
MIB = 1024 * 1024
CLIP = ROOT / "tests" / "media" / "fixtures" / "clip.mp4"


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class RssSampler:
    """The highest VmRSS of a process seen every 20 ms while running (a second witness
    beside VmHWM, whose high-water mark may predate the upload)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()


def photo(width: int = 6000, height: int = 4000, *, grain: float = 0.12) -> bytes:
    """A photo-like JPEG: gradients, shapes and noise; more `grain` makes a larger file
    (0.12: about 2 MB, smooth; 0.5 with no smoothing: about 10 MB, like a camera's)."""
    small = Image.new("RGB", (600, 400))
    draw = ImageDraw.Draw(small)
    for y in range(400):
        draw.line([(0, y), (600, y)], fill=(40 + y // 3, 90 + y // 5, 160 - y // 4))
    for i in range(40):
        x, y = (i * 97) % 560, (i * 53) % 360
        draw.ellipse([x, y, x + 40, y + 30], fill=((i * 40) % 255, (i * 90) % 255, 120))
    big = small.resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    blended = Image.blend(big, noise, grain)
    if grain < 0.3:
        blended = blended.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    blended.save(out, format="JPEG", quality=92)
    return out.getvalue()


def bench_renditions(tmp: Path, grain: float) -> dict[str, Any]:
    data = photo(grain=grain)
    path = tmp / "photo.jpg"
    path.write_bytes(data)
    clean_times, rendition_times = [], []
    clean = None
    for _ in range(3):
        started = time.perf_counter()
        clean = clean_image(
            path,
            JPEG,
            max_pixels=80_000_000,
            max_animation_pixels=50_000_000,
            max_animation_frames=1000,
        )
        clean_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        renditions = make_renditions(clean.data, (0.5, 0.5))
        rendition_times.append(time.perf_counter() - started)
    assert clean is not None
    return {
        "source_bytes": len(data),
        "pixels": "6000x4000",
        "clean_s_median": round(statistics.median(clean_times), 3),
        "renditions_s_median": round(statistics.median(rendition_times), 3),
        "renditions_runs_s": [round(t, 3) for t in rendition_times],
        "rendition_bytes": {f"{n}.{f}": len(b) for (n, f), b in sorted(renditions.items())},
    }


def mp4_body(size: int) -> tuple[bytes, int]:
    """The clip's bytes, then the header of a `free` box filling the file up to `size`."""
    clip = CLIP.read_bytes()
    filler = size - len(clip)
    header = struct.pack(">I4sQ", 1, b"free", filler)  # 64-bit box size
    return clip + header, filler - len(header)


def multipart(size: int, boundary: str, progress: Progress) -> Iterator[bytes]:
    head, zeros_left = mp4_body(size)
    task = progress.add_task("upload", total=size)
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="portal"\r\n\r\nphu-yen\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="phim.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    yield head
    block = os.urandom(MIB)
    while zeros_left > 0:
        chunk = block[: min(MIB, zeros_left)]
        zeros_left -= len(chunk)
        progress.update(task, advance=len(chunk))
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def upload(base: str, headers: dict[str, str], size: int) -> tuple[dict[str, Any], float]:
    boundary = uuid.uuid4().hex
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        started = time.perf_counter()
        r = httpx.post(
            f"{base}/v1/media",
            content=multipart(size, boundary, progress),
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=httpx.Timeout(600.0),
        )
        elapsed = time.perf_counter() - started
    r.raise_for_status()
    return r.json(), elapsed


def download(url: str, headers: dict[str, str], label: str) -> dict[str, Any]:
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    got = 0
    with Progress(*columns, console=console) as progress, httpx.Client(timeout=600) as client:
        started = time.perf_counter()
        with client.stream("GET", url, headers=headers) as r:
            r.raise_for_status()
            task = progress.add_task(label, total=int(r.headers.get("content-length", 0)))
            for chunk in r.iter_raw(1024 * 1024):
                got += len(chunk)
                progress.update(task, advance=len(chunk))
        elapsed = time.perf_counter() - started
    return {"bytes": got, "seconds": round(elapsed, 2), "mib_per_s": round(got / MIB / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument(
        "--storage",
        choices=["local", "s3"],
        default="local",
        help="s3: moto's S3 server in its own process (no static-file baseline then)",
    )
    args = parser.parse_args()
    size = args.size_mb * MIB
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} vCPU, {platform.python_version()}",
        "size_mib": args.size_mb,
    }
    with tempfile.TemporaryDirectory(prefix="bench-media-", dir=ROOT / "bench") as tmpdir:
        tmp = Path(tmpdir)
        console.print("[bold]Renditions of a 24 MP JPEG[/] (in-process) …")
        results["renditions"] = bench_renditions(tmp, 0.12)
        results["renditions_detailed"] = bench_renditions(tmp, 0.5)
        console.print(results["renditions"], results["renditions_detailed"])

        data_dir = tmp / "var"
        key = load_or_create_private_key(data_dir / "keys" / "signing.pem")
        issuer = TokenIssuer(key, issuer="portal-platform", audience="portal-api")
        token, _ = issuer.issue(
            subject="bench", username="bench", roles={"phu-yen": "admin"}, is_superadmin=False
        )
        headers = {"Authorization": f"Bearer {token}"}
        portal = str(VENV_BIN / "portal")
        import subprocess

        subprocess.run(
            [portal, "migrate", "media", "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
        )
        media_port, gateway_port, static_port = free_port(), free_port(), free_port()
        media_env = {"MEDIA_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
        s3 = contextlib.nullcontext()
        if args.storage == "s3":
            s3_port = free_port()
            media_env.update(
                MEDIA_STORAGE="s3",
                MEDIA_S3_ENDPOINT=f"127.0.0.1:{s3_port}",
                MEDIA_S3_ACCESS_KEY="bench",
                MEDIA_S3_SECRET_KEY="bench-secret",
                MEDIA_S3_SECURE="false",
            )
            moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)]
            s3 = server(moto, {}, s3_port, "/moto-api/")
        results["storage"] = args.storage
        with (
            s3,
            server(
                [portal, "serve", "media", "--port", str(media_port)],
                media_env,
                media_port,
                "/healthz",
            ) as media,
        ):
            base = f"http://127.0.0.1:{media_port}"
            warm = httpx.post(
                f"{base}/v1/media",
                data={"portal": "phu-yen"},
                files={"file": ("clip.mp4", CLIP.read_bytes(), "video/mp4")},
                headers=headers,
            )
            warm.raise_for_status()
            before = {f: status_kib(media.pid, f) for f in ("VmHWM", "VmRSS")}
            console.print(f"[bold]Uploading {args.size_mb} MiB[/] … server before: {before}")
            with RssSampler(media.pid) as sampler:
                body, seconds = upload(base, headers, size)
            after = {f: status_kib(media.pid, f) for f in ("VmHWM", "VmRSS")}
            results["upload"] = {
                "status": "ok",
                "id": body["id"],
                "stored_bytes": body["size"],
                "seconds": round(seconds, 2),
                "mib_per_s": round(size / MIB / seconds, 1),
                "server_kib_before": before,
                "server_kib_after": after,
                "peak_rss_growth_mib": round((after["VmHWM"] - before["VmHWM"]) / 1024, 1),
                "sampled_max_rss_kib": sampler.peak,
                "sampled_rss_growth_mib": round((sampler.peak - before["VmRSS"]) / 1024, 1),
                "duration_from_ffprobe": body.get("duration"),
            }
            console.print(results["upload"])
            gateway_env = {
                "GATEWAY_DATA_DIR": str(tmp / "gateway"),
                "GATEWAY_MEDIA_URL": base,
                "LOG_LEVEL": "WARNING",
            }
            static: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            stored = None
            if args.storage == "local":
                stored = next((data_dir / "media" / "o").glob(f"{body['id']}.*"))
                static_cmd = [sys.executable, "-m", "http.server", str(static_port)]
                static_cmd += ["--bind", "127.0.0.1", "--directory", str(stored.parent)]
                static = server(static_cmd, {}, static_port, "/")
            with (
                server(
                    [portal, "serve", "gateway", "--port", str(gateway_port)],
                    gateway_env,
                    gateway_port,
                    "/healthz",
                ) as gateway,
                static,
            ):
                path = f"/v1/media/{body['id']}/file"
                results["download"] = {}
                if stored is not None:
                    results["download"]["static_file_server"] = download(
                        f"http://127.0.0.1:{static_port}/{stored.name}", {}, "static"
                    )
                results["download"] |= {
                    "media_service": download(base + path, headers, "media"),
                    "gateway": download(
                        f"http://127.0.0.1:{gateway_port}{path}", headers, "gateway"
                    ),
                }
                console.print(results["download"])
                gw_before = status_kib(gateway.pid, "VmRSS")
                media_before = status_kib(media.pid, "VmRSS")
                console.print(f"[bold]Uploading {args.size_mb} MiB through the gateway[/] …")
                with RssSampler(gateway.pid) as gw_sampler, RssSampler(media.pid) as m_sampler:
                    _, gw_seconds = upload(f"http://127.0.0.1:{gateway_port}", headers, size)
                results["upload_via_gateway"] = {
                    "seconds": round(gw_seconds, 2),
                    "mib_per_s": round(size / MIB / gw_seconds, 1),
                    "gateway_rss_growth_mib": round((gw_sampler.peak - gw_before) / 1024, 1),
                    "media_rss_growth_mib": round((m_sampler.peak - media_before) / 1024, 1),
                }
                console.print(results["upload_via_gateway"])
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"media-{stamp}.json").write_text(json.dumps(results, indent=2))
    u, d = results["upload"], results["download"]
    print("\n| measure | value |\n|---|---|")
    for label in ("renditions", "renditions_detailed"):
        r = results[label]
        mb = round(r["source_bytes"] / MIB, 1)
        print(f"| 24 MP ({mb} MiB) clean (decode + re-encode) | {r['clean_s_median']} s |")
        print(
            f"| 24 MP ({mb} MiB) renditions, all four, WebP + JPEG | {r['renditions_s_median']} s |"
        )
    print(f"| {args.size_mb} MiB upload | {u['seconds']} s, {u['mib_per_s']} MiB/s |")
    print(f"| server peak RSS growth (VmHWM) | {u['peak_rss_growth_mib']} MiB |")
    print(f"| server RSS growth (sampled every 20 ms) | {u['sampled_rss_growth_mib']} MiB |")
    for name, row in d.items():
        print(f"| download {name} | {row['mib_per_s']} MiB/s |")
    g = results["upload_via_gateway"]
    print(
        f"| {args.size_mb} MiB upload via the gateway | {g['seconds']} s, {g['mib_per_s']} MiB/s |"
    )
    print(
        f"| RSS growth during it: gateway / media | {g['gateway_rss_growth_mib']} / "
        f"{g['media_rss_growth_mib']} MiB |"
    )


if __name__ == "__main__":
    main()
