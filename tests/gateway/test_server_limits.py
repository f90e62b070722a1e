"""The server `portal serve` runs, as a real process on loopback: a request's head is bounded
in size, field count and time, a body may not pause for long, and an oversized body is
refused while it streams, with the process's memory bounded throughout.

The search service is served (it starts without a database, and `/internal/events` reads a
JSON body); the protocol is the same for every service and the gateway. Every loop is
bounded; times are generous margins around 1-second timeouts, not measurements.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served import portal_serve

MiB = 1024 * 1024


class Served:
    def __init__(self, port: int, pid: int) -> None:
        self.port = port
        self.pid = pid
        self.base = f"http://127.0.0.1:{port}"

    def rss(self) -> int:
        """Resident memory of the server process, in bytes (Linux)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock

    def healthy(self) -> bool:
        return httpx.get(self.base + "/healthz", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("server-limits")
    env = {
        "SEARCH_DATA_DIR": str(data_dir),
        "PORTAL_HEADER_TIMEOUT": "1",
        "PORTAL_BODY_TIMEOUT": "1",
        "LOG_LEVEL": "ERROR",
    }
    with portal_serve("search", env, data_dir) as process:
        yield Served(process.port, process.pid)


def _answer(sock: socket.socket) -> bytes:
    """What the server sent before closing (b"" when it closed without a word)."""
    data = b""
    sock.settimeout(5)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (polling, bounded)."""
    sock.settimeout(0.1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


class TestRequestHead:
    def test_a_64_mb_header_is_refused_and_memory_stays_bounded(self, served):
        before = served.rss()
        sock = served.connect()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ")
        sent = 0
        try:
            for _ in range(64):
                sock.sendall(b"A" * MiB)
                sent += 1
        except OSError:
            pass  # the server stopped listening: what the test wants
        answer = _answer(sock)
        sock.close()
        assert sent < 64, "the server took the whole 64 MB header"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert served.rss() - before < 32 * MiB
        assert served.healthy()

    def test_too_many_header_fields_are_431(self, served):
        sock = served.connect()
        fields = b"".join(b"X-Field-%d: 1\r\n" % i for i in range(150))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = _answer(sock)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
        assert b"application/problem+json" in answer

    def test_a_normal_head_is_served(self, served):
        with httpx.Client(base_url=served.base) as http:  # keep-alive: two requests
            for _ in range(2):
                r = http.get("/healthz", headers={f"X-Field-{i}": "1" * 100 for i in range(50)})
                assert r.status_code == 200


class TestSlowClients:
    def test_a_head_sent_byte_by_byte_is_cut_off(self, served):
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"s" * 200 + b"\r\n\r\n"
        sock = served.connect()
        sock.settimeout(0.1)
        closed = False
        for byte in head:  # 0.1 s a byte: the whole head would take 24 s
            try:
                sock.send(bytes([byte]))
                if sock.recv(65536) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
        sock.close()
        assert closed, "the server waited for the whole slow head"

    def test_a_client_that_sends_nothing_is_cut_off(self, served):
        sock = served.connect()
        assert _closed_within(sock, 5)
        sock.close()

    def test_many_slow_sockets_do_not_starve_other_requests(self, served):
        sockets = []
        try:
            for _ in range(300):
                sock = served.connect()
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                sockets.append(sock)
            for _ in range(5):
                assert served.healthy()
            assert all(_closed_within(sock, 5) for sock in sockets)
        finally:
            for sock in sockets:
                sock.close()
        assert served.healthy()

    def test_a_body_that_stops_coming_is_cut_off(self, served):
        sock = served.connect()
        sock.sendall(
            b"POST /internal/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"type": '
        )
        assert _closed_within(sock, 4)  # less than the keep-alive timeout (5 s)
        sock.close()
        assert served.healthy()


class TestRequestBody:
    def test_a_200_mb_body_is_refused_while_it_streams(self, served):
        before = served.rss()
        sock = served.connect()
        sock.sendall(
            b"POST /internal/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (MiB, b" " * MiB)
        sock.settimeout(0.05)
        answer = b""
        sent = 0
        for _ in range(200):
            try:
                sock.sendall(chunk)
                sent += 1
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        answer += _answer(sock)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert b"payload-too-large" in answer
        assert sent < 200
        assert served.rss() - before < 64 * MiB

    def test_a_declared_length_over_the_limit_is_refused_before_the_body(self, served):
        sock = served.connect()
        sock.sendall(
            b"POST /internal/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        answer = _answer(sock)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]

    def test_an_endless_body_after_the_answer_is_cut_off(self, served):
        sock = served.connect()
        sock.sendall(
            b"POST /internal/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        sock.settimeout(0.05)
        answer = b""
        closed = False
        deadline = time.monotonic() + 10  # it would go on for ever without the cut
        while time.monotonic() < deadline:
            try:
                sock.sendall(chunk)
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
            if answer and data == b"":
                closed = True
                break
            answer += data
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:300]
        assert closed, "the server went on discarding the body"
