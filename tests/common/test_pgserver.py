"""Real tests for tests/pgserver.py: they start servers and clusters, nothing is mocked."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PGSERVER_PATH = Path(__file__).resolve().parents[1] / "pgserver.py"


def _load_pgserver() -> ModuleType:
    # tests/ is not a package and not necessarily on sys.path: load the helper by path,
    # reusing the module if a conftest already imported it.
    if "pgserver" in sys.modules:
        return sys.modules["pgserver"]
    spec = importlib.util.spec_from_file_location("pgserver", PGSERVER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pgserver"] = module
    spec.loader.exec_module(module)
    return module


pgserver = _load_pgserver()

pytestmark = pytest.mark.postgres


def _unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _query(server, database: str, sql: str) -> object:
    async def go() -> object:
        conn = await asyncpg.connect(
            host=server.host,
            port=server.port,
            user=server.user,
            password=server.password,
            database=database,
            timeout=10,
        )
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(go())


def _port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- (a) resolution


def test_postgres_server_create_and_drop_database() -> None:
    with pgserver.postgres_server() as server:
        assert server.origin in {"TEST_DATABASE_URL", "local server", "throwaway cluster"}
        name = _unique_name("pgserver_test")
        pgserver.create_database(server, name)
        try:
            assert _query(server, name, "SELECT 1") == 1
            _query(server, name, "CREATE TABLE marker (id int)")
            # Creating again drops the existing database first (even with a connection open).
            pgserver.create_database(server, name)
            assert _query(server, name, "SELECT to_regclass('marker') IS NULL") is True

            # The URL is usable by SQLAlchemy as-is.
            async def via_sqlalchemy() -> object:
                engine = create_async_engine(server.url(name))
                try:
                    async with engine.connect() as conn:
                        return (await conn.execute(text("SELECT current_database()"))).scalar()
                finally:
                    await engine.dispose()

            assert asyncio.run(via_sqlalchemy()) == name
        finally:
            pgserver.drop_database(server, name)
        exists = _query(
            server, "postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )
        assert exists == 0
        pgserver.drop_database(server, name)  # dropping a missing database is fine


def test_test_database_url_is_used_when_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    with pgserver.postgres_server() as real:
        monkeypatch.setenv("TEST_DATABASE_URL", real.url("whatever_db"))
        with pgserver.postgres_server() as server:
            assert server.origin == "TEST_DATABASE_URL"
            assert (server.host, server.port, server.user) == (real.host, real.port, real.user)
            assert _query(server, "postgres", "SELECT 1") == 1


# --------------------------------------------------------------------------- (b) bad URL


def test_unreachable_test_database_url_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("TEST_DATABASE_URL", f"postgresql+asyncpg://u:s3cret@127.0.0.1:{port}/db")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="TEST_DATABASE_URL") as excinfo:
        with pgserver.postgres_server():
            pytest.fail("postgres_server() yielded for an unreachable TEST_DATABASE_URL")
    assert time.monotonic() - started < 10
    message = str(excinfo.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret" not in message


def test_url_parsing_and_formatting() -> None:
    server = pgserver._server_from_url("postgresql+asyncpg://us%40er:p%3Aw%2Fd@db.example:6543/x")
    assert (server.host, server.port, server.user, server.password) == (
        "db.example",
        6543,
        "us@er",
        "p:w/d",
    )
    assert server.url("app") == "postgresql+asyncpg://us%40er:p%3Aw%2Fd@db.example:6543/app"
    assert server.url("app", driver="postgresql") == (
        "postgresql://us%40er:p%3Aw%2Fd@db.example:6543/app"
    )
    plain = pgserver._server_from_url("postgresql://alice@localhost/db")
    assert (plain.host, plain.port, plain.user, plain.password) == (
        "localhost",
        5432,
        "alice",
        None,
    )
    assert plain.url("d") == "postgresql+asyncpg://alice@localhost:5432/d"
    with pytest.raises(RuntimeError, match="TEST_DATABASE_URL"):
        pgserver._server_from_url("mysql://x@y/z")


@pytest.mark.parametrize("bad", ["", "Upper", "1abc", 'x"; DROP DATABASE y; --', "a" * 64])
def test_database_names_are_validated(bad: str) -> None:
    # Port 1 is never contacted: validation happens before connecting.
    server = pgserver.PgServer("127.0.0.1", 1, "postgres", None, origin="local server")
    with pytest.raises(ValueError, match="invalid database name"):
        pgserver.create_database(server, bad)
    with pytest.raises(ValueError, match="invalid database name"):
        pgserver.drop_database(server, bad)


# --------------------------------------------------------------------------- (c) throwaway


def test_throwaway_cluster_really_starts_and_stops(
    record_property: Callable[[str, object], None],
) -> None:
    # Not skippable on purpose: without initdb/pg_ctl this fails with install instructions.
    initdb, pg_ctl = pgserver._find_binaries()
    started = time.monotonic()
    with pgserver.throwaway_cluster(shared=False) as server:
        startup = time.monotonic() - started
        assert server.origin == "throwaway cluster"
        assert server.port != 5432
        version = _query(server, "postgres", "SELECT version()")
        assert isinstance(version, str)
        assert version.startswith("PostgreSQL")
        assert _query(server, "postgres", "SHOW fsync") == "off"
        name = _unique_name("throwaway")
        pgserver.create_database(server, name)
        assert _query(server, name, "SELECT 1") == 1
        stopping = time.monotonic()
    shutdown = time.monotonic() - stopping
    assert not _port_answers(server.port)
    with pytest.raises(OSError, match=r"[Cc]onnect"):
        _query(server, "postgres", "SELECT 1")
    record_property("startup_seconds", round(startup, 2))
    record_property("shutdown_seconds", round(shutdown, 2))
    sys.stderr.write(f"\n{initdb} / {pg_ctl}: start {startup:.2f}s, stop {shutdown:.2f}s\n")


def test_shared_cluster_nested_in_one_process(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with pgserver.throwaway_cluster(state_dir=state_dir) as outer:
        with pgserver.throwaway_cluster(state_dir=state_dir) as inner:
            assert inner == outer
            state = json.loads((state_dir / "state.json").read_text())
            assert state["holders"] == [os.getpid(), os.getpid()]
        assert _query(outer, "postgres", "SELECT 1") == 1  # still up for the outer holder
    assert not _port_answers(outer.port)
    assert not (state_dir / "state.json").exists()
    assert not Path(state["cluster_dir"]).exists()


CHILD = textwrap.dedent(
    """
    import importlib.util, os, sys, time
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("pgserver", sys.argv[1])
    pgserver = sys.modules["pgserver"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pgserver)
    go = Path(sys.argv[3])
    with pgserver.throwaway_cluster(state_dir=Path(sys.argv[2])) as server:
        print(server.port, flush=True)
        deadline = time.monotonic() + 120
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    print("done", flush=True)
    """
)


def _spawn_holder(state_dir: Path, go: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(PGSERVER_PATH), str(state_dir), str(go)],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_shared_cluster_across_processes(tmp_path: Path) -> None:
    state_dir, go = tmp_path / "state", tmp_path / "go"
    children = [_spawn_holder(state_dir, go) for _ in range(3)]
    try:
        ports = {int(child.stdout.readline()) for child in children}  # type: ignore[union-attr]
        assert len(ports) == 1, f"each process got its own cluster: {ports}"
        port = ports.pop()
        state = json.loads((state_dir / "state.json").read_text())
        assert sorted(state["holders"]) == sorted(child.pid for child in children)
        server = pgserver.PgServer("127.0.0.1", port, "postgres", None, "throwaway cluster")
        assert _query(server, "postgres", "SELECT 1") == 1
    finally:
        go.touch()
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            assert out.strip() == "done"
    assert not _port_answers(port)
    assert not (state_dir / "state.json").exists()
    assert not Path(state["cluster_dir"]).exists()


def test_shared_cluster_survives_a_killed_holder(tmp_path: Path) -> None:
    state_dir, go = tmp_path / "state", tmp_path / "go"
    with _spawn_holder(state_dir, go) as child:
        port = int(child.stdout.readline())  # type: ignore[union-attr]
        child.send_signal(signal.SIGKILL)  # dies without releasing its reference
        child.wait(timeout=30)
    assert _port_answers(port)  # orphaned, still running
    with pgserver.throwaway_cluster(state_dir=state_dir) as server:
        assert server.port == port  # adopted, not restarted
        state = json.loads((state_dir / "state.json").read_text())
        assert state["holders"] == [os.getpid()]  # the dead pid was pruned
    assert not _port_answers(port)  # last one out stopped it


@pytest.mark.parametrize("round_", range(4))
def test_default_shared_cluster_under_xdist(round_: int) -> None:
    # Uses the real well-known state dir; with -n N several workers get here concurrently.
    with pgserver.throwaway_cluster() as server:
        assert _query(server, "postgres", "SELECT 1") == 1
        time.sleep(0.3)


def test_nothing_available_raises_with_instructions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Simulate a machine without PostgreSQL: no env var, nothing on the local port,
    # no binaries on PATH or under /usr/lib/postgresql.
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setattr(pgserver, "LOCAL_PORT", _closed_port())
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    # ...and no shared throwaway cluster that another xdist worker is holding right now.
    monkeypatch.setattr(pgserver, "default_state_dir", lambda: tmp_path / "state")
    with pytest.raises(RuntimeError) as excinfo:
        with pgserver.postgres_server():
            pytest.fail("postgres_server() yielded without any PostgreSQL")
    assert "apt-get install postgresql" in str(excinfo.value)
    assert "TEST_DATABASE_URL=postgresql://user@host:port/db" in str(excinfo.value)
