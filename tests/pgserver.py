"""Get a PostgreSQL server for the test suite -- never skip PostgreSQL silently.

``postgres_server()`` resolves a server in this order and yields a :class:`PgServer`:

1. ``TEST_DATABASE_URL`` (``postgresql+asyncpg://user:pw@host:5432/anydb`` or plain
   ``postgresql://...``): host, port, user and password are taken from it (the database
   part is ignored; missing parts default like libpq: ``localhost``, ``5432``, the OS user
   name).  The server must answer within 5 s (connecting to the ``postgres`` database),
   otherwise ``RuntimeError`` is raised -- it was asked for explicitly, so there is no
   fallback.
2. A local server on ``127.0.0.1:5432``, user ``postgres`` without password (trust auth),
   if a connection succeeds within 2 s.
3. A throwaway cluster (:func:`throwaway_cluster`): ``initdb`` + ``pg_ctl`` found on
   ``PATH`` or under ``/usr/lib/postgresql/<highest version>/bin/``; ``initdb`` in a
   temporary directory with trust auth, started on a free port bound to 127.0.0.1 (unix
   socket in the temporary directory) with durability turned off (``fsync``,
   ``synchronous_commit``, ``full_page_writes``), stopped with ``pg_ctl -m immediate`` and
   removed afterwards.  As root (``initdb`` refuses to run as root) the cluster is owned
   by and run as the ``postgres`` OS user via ``runuser -u postgres --`` (or ``su``); if
   there is no such user, this step fails.
4. Otherwise ``RuntimeError`` telling what to do: install PostgreSQL or set
   ``TEST_DATABASE_URL``.

Sharing the throwaway cluster between processes (pytest-xdist workers)
-----------------------------------------------------------------------
Every worker imports this module and calls ``postgres_server()`` on its own, so the
throwaway cluster is shared through ``/tmp/portal-test-pg-<uid>/`` (created 0700, must be
owned by the current user):

* ``lock`` -- every state change happens under an exclusive ``fcntl.flock`` on it (polled,
  gives up after 180 s).  Starting the cluster happens while holding the lock, so the
  other workers simply wait and then reuse it.
* ``state.json`` -- ``{"cluster_dir": ..., "port": ..., "holders": [pid, ...]}``.  The
  holder list is the reference count: a process appends its pid on entry and removes one
  occurrence on exit; pids of dead processes are pruned whenever the state is read, so a
  killed worker does not keep the cluster alive forever.  The last holder out stops the
  cluster, deletes its directory and the state file.
* If the recorded cluster does not answer (crashed, or a process died mid-start) it is
  stopped/removed and a new one is started.  A cluster orphaned by a killed last holder
  keeps running until the next run adopts it (it still answers) and then stops it.

``throwaway_cluster(shared=False)`` gives a private cluster without any of this.
``create_database``/``drop_database`` run asyncpg through ``asyncio.run`` (in a helper
thread when called from inside a running event loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import fcntl
import getpass
import glob
import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import asyncpg  # type: ignore[import-untyped]

__all__ = [
    "PgServer",
    "create_database",
    "drop_database",
    "postgres_server",
    "throwaway_cluster",
]

ENV_VAR = "TEST_DATABASE_URL"
HINT = (
    "Install PostgreSQL (Debian: apt-get install postgresql) "
    "or set TEST_DATABASE_URL=postgresql://user@host:port/db"
)
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 5432
SUPERUSER = "postgres"
ENV_TIMEOUT = 5.0
LOCAL_TIMEOUT = 2.0
LOCK_TIMEOUT = 180.0
_CLUSTER_PREFIX = "portal-test-pg-cluster-"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str | None
    origin: str  # "TEST_DATABASE_URL" | "local server" | "throwaway cluster"

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{driver}://{auth}@{host}:{self.port}/{quote(database, safe='')}"

    def describe(self) -> str:
        """Human-readable location without the password."""
        return f"{self.user}@{self.host}:{self.port} ({self.origin})"


# --------------------------------------------------------------------------- asyncpg


def _run(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``, also usable when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _execute(server: PgServer, statements: Sequence[str], timeout: float) -> str:
    conn = await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database="postgres",
        timeout=timeout,
    )
    try:
        result = ""
        for statement in statements:
            result = str(await conn.execute(statement))
        return result
    finally:
        await conn.close(timeout=timeout)


def _check(server: PgServer, timeout: float) -> Exception | None:
    """Return ``None`` if the server accepts a connection, else the error."""
    try:
        _run(_execute(server, ["SELECT 1"], timeout))
    except Exception as exc:  # refused, timeout, auth, protocol: all mean "not usable"
        return exc
    return None


def _validate_name(name: str) -> str:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"invalid database name {name!r} (must match {_DB_NAME.pattern})")
    return name


def create_database(server: PgServer, name: str) -> None:
    """(Re)create database ``name``; an existing one is dropped first (``WITH (FORCE)``)."""
    _validate_name(name)
    _run(
        _execute(
            server,
            [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'],
            30.0,
        )
    )


def drop_database(server: PgServer, name: str) -> None:
    """Drop database ``name`` if it exists, terminating its connections."""
    _validate_name(name)
    _run(_execute(server, [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], 30.0))


# --------------------------------------------------------------------------- TEST_DATABASE_URL


def _server_from_url(url: str) -> PgServer:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in {"postgresql", "postgres"}:
        raise RuntimeError(
            f"{ENV_VAR} must be a postgresql:// URL, got scheme {parts.scheme!r}. {HINT}"
        )
    try:
        port = parts.port or LOCAL_PORT
    except ValueError as exc:
        raise RuntimeError(f"{ENV_VAR} has an invalid port: {exc}. {HINT}") from None
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    user = unquote(parts.username) if parts.username else getpass.getuser()
    password = unquote(parts.password) if parts.password is not None else None
    return PgServer(host, port, user, password, origin=ENV_VAR)


# --------------------------------------------------------------------------- throwaway cluster


def _find_binaries() -> tuple[str, str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl

    def version(bindir: str) -> tuple[int, ...]:
        name = Path(bindir).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)

    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        initdb, pg_ctl = f"{bindir}/initdb", f"{bindir}/pg_ctl"
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return initdb, pg_ctl
    raise RuntimeError(
        "no PostgreSQL server found: nothing answers on 127.0.0.1:5432, TEST_DATABASE_URL "
        "is not set, and initdb/pg_ctl are neither on PATH nor under "
        f"/usr/lib/postgresql/*/bin/. {HINT}"
    )


@dataclass(frozen=True)
class _Runner:
    """Runs the PostgreSQL tools, as the ``postgres`` OS user when we are root."""

    as_user: pwd.struct_passwd | None

    @classmethod
    def for_current_user(cls) -> _Runner:
        if os.geteuid() != 0:
            return cls(None)
        try:
            return cls(pwd.getpwnam(SUPERUSER))
        except KeyError:
            raise RuntimeError(
                "running as root, where initdb refuses to work, and there is no "
                f"'{SUPERUSER}' OS user to run the throwaway cluster as. "
                f"Run the tests as a normal user, or: {HINT}"
            ) from None

    def chown(self, path: Path) -> None:
        if self.as_user is not None:
            os.chown(path, self.as_user.pw_uid, self.as_user.pw_gid)

    def run(self, cmd: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        if self.as_user is not None:
            if shutil.which("runuser"):
                cmd = ["runuser", "-u", SUPERUSER, "--", *cmd]
            else:
                cmd = ["su", SUPERUSER, "-s", "/bin/sh", "-c", shlex.join(cmd)]
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd="/",
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr).strip()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start_cluster(cluster_dir: Path) -> int:
    """initdb + start a cluster in ``cluster_dir`` (which must exist); return its port."""
    initdb, pg_ctl = _find_binaries()
    runner = _Runner.for_current_user()
    cluster_dir.chmod(0o700)
    runner.chown(cluster_dir)
    data, log = cluster_dir / "data", cluster_dir / "log"

    base = [initdb, "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8"]
    proc = runner.run([*base, "--locale=C.UTF-8"])
    if proc.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        first = _output(proc)
        proc = runner.run([*base, "--no-locale"])
        if proc.returncode != 0:
            raise RuntimeError(
                f"initdb failed:\n{first}\n--- retried with --no-locale:\n{_output(proc)}"
            )

    error = ""
    for _attempt in range(3):  # a free port can be taken by someone else before we bind it
        port = _free_port()
        options = (
            f"-p {port} -k {shlex.quote(str(cluster_dir))} -c listen_addresses={LOCAL_HOST} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        proc = runner.run([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"])
        if proc.returncode == 0:
            return port
        error = f"{_output(proc)}\n--- server log:\n{_tail(log)}"
        _stop_cluster(cluster_dir, remove=False)
    raise RuntimeError(f"pg_ctl start failed for the throwaway cluster in {cluster_dir}:\n{error}")


def _stop_cluster(cluster_dir: Path, *, remove: bool = True) -> None:
    try:
        if (cluster_dir / "data" / "postmaster.pid").exists():
            _, pg_ctl = _find_binaries()
            data = str(cluster_dir / "data")
            _Runner.for_current_user().run([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"])
    finally:
        if remove:
            shutil.rmtree(cluster_dir, ignore_errors=True)


def _make_cluster_dir() -> Path:
    # In the system temp dir, not under the 0700 state dir: as root the cluster runs as
    # the postgres user, which must be able to reach it.
    return Path(tempfile.mkdtemp(prefix=_CLUSTER_PREFIX))


def _local_server(port: int) -> PgServer:
    return PgServer(LOCAL_HOST, port, SUPERUSER, None, origin="throwaway cluster")


@contextlib.contextmanager
def _private_cluster() -> Iterator[PgServer]:
    cluster_dir = _make_cluster_dir()
    try:
        port = _start_cluster(cluster_dir)
        yield _local_server(port)
    finally:
        _stop_cluster(cluster_dir)


def default_state_dir() -> Path:
    return Path("/tmp") / f"portal-test-pg-{os.getuid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = state_dir.stat()
    if st.st_uid != os.getuid():
        raise RuntimeError(f"{state_dir} is not owned by uid {os.getuid()}; remove it")
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"timed out after {LOCK_TIMEOUT:.0f}s waiting for {state_dir}/lock"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock


def _read_state(state_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    if not isinstance(state, dict):
        state = {}
    state["holders"] = [p for p in state.get("holders", []) if _pid_alive(int(p))]
    return state


def _write_state(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = state_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(state_dir / "state.json")


def _recorded_cluster_dir(state: dict[str, Any]) -> Path | None:
    """The cluster directory named in the state file, if it looks like one of ours."""
    recorded = state.get("cluster_dir")
    if isinstance(recorded, str) and Path(recorded).name.startswith(_CLUSTER_PREFIX):
        return Path(recorded)
    return None


@contextlib.contextmanager
def _shared_cluster(state_dir: Path) -> Iterator[PgServer]:
    pid = os.getpid()
    with _locked(state_dir):
        state = _read_state(state_dir)
        port, recorded = state.get("port"), _recorded_cluster_dir(state)
        alive = (
            isinstance(port, int)
            and recorded is not None
            and (recorded / "data" / "postmaster.pid").exists()
            and _check(_local_server(port), LOCAL_TIMEOUT) is None
        )
        if not alive:
            if recorded is not None:  # stale: crashed, or its starter died mid-start
                _stop_cluster(recorded)
            cluster_dir = _make_cluster_dir()
            # Record the directory before starting, so a crash mid-start is cleaned up later.
            state = {"cluster_dir": str(cluster_dir), "port": None, "holders": state["holders"]}
            _write_state(state_dir, state)
            try:
                state["port"] = port = _start_cluster(cluster_dir)
            except BaseException:
                _stop_cluster(cluster_dir)
                (state_dir / "state.json").unlink(missing_ok=True)
                raise
        assert isinstance(port, int)
        state["holders"].append(pid)
        _write_state(state_dir, state)
    try:
        yield _local_server(port)
    finally:
        with _locked(state_dir):
            state = _read_state(state_dir)
            holders: list[int] = state["holders"]
            if pid in holders:
                holders.remove(pid)
            if holders:
                _write_state(state_dir, state)
            else:  # last one out
                recorded = _recorded_cluster_dir(state)
                if recorded is not None:
                    _stop_cluster(recorded)
                (state_dir / "state.json").unlink(missing_ok=True)


def throwaway_cluster(
    *, shared: bool = True, state_dir: Path | None = None
) -> contextlib.AbstractContextManager[PgServer]:
    """A throwaway cluster from ``initdb``; see the module docstring.

    ``shared=True`` shares it between processes through ``state_dir`` (default
    ``/tmp/portal-test-pg-<uid>/``); ``shared=False`` starts a private one.  Either way it
    is stopped and removed when its last user leaves.
    """
    if not shared:
        return _private_cluster()
    return _shared_cluster(state_dir or default_state_dir())


# --------------------------------------------------------------------------- resolution


@contextlib.contextmanager
def postgres_server() -> Iterator[PgServer]:
    """Yield a reachable PostgreSQL server; raise ``RuntimeError`` if there is none."""
    url = os.environ.get(ENV_VAR, "").strip()
    if url:
        server = _server_from_url(url)
        error = _check(server, ENV_TIMEOUT)
        if error is not None:
            raise RuntimeError(
                f"{ENV_VAR} is set but its server {server.describe()} does not answer "
                f"within {ENV_TIMEOUT:.0f}s: {type(error).__name__}: {error}. "
                f"Start that server, fix {ENV_VAR}, or unset it to use a local server "
                "or a throwaway cluster."
            )
        yield server
        return

    local = PgServer(LOCAL_HOST, LOCAL_PORT, SUPERUSER, None, origin="local server")
    if _check(local, LOCAL_TIMEOUT) is None:
        yield local
        return

    with throwaway_cluster() as server:
        yield server
