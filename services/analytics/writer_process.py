"""The batch writer in its own process, so that the request loop only captures beacons.

Classification (bot layers, visitor ids), the visit bookkeeping and the database writes
cost more CPU than answering the beacon; in the request process they also waited for the
request loop between their database round trips. `ANALYTICS_WRITER=process` (the default)
runs them in a child process that each service worker starts at its own start-up:

    parent (uvicorn worker)                          child (`python -m ...writer_process`)
    ---------------------------------------------    -------------------------------------
    frame 0: the settings                        ->  opens the database, `{"ready": true}`
    frame:   (batch id, [Raw, ...])              ->  BatchWriter.write, in one transaction
                                                 <-  {"id", "stored", "duplicates", "bots",
                                                          "dropped"}
                                                     or {"id", "error"} (the batch is retried)
    end of input (shutdown, or the parent died)  ->  the child finishes and exits

A frame is a 4-byte big-endian length and a pickle. Pickle is safe here: both ends are
this code, over a private pipe, and nothing from outside is ever unpickled. The child also
runs the upkeep loop (retention, salts, partitions): every analytics write happens there.
If the child dies, the next batch starts a new one and sends the unanswered batch again
under its id; the writer recognises a batch it already committed (`ingest_batches`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import struct
import sys
from pathlib import Path
from typing import Any

from services.analytics.ingest import Raw
from services.analytics.runtime import system_clock
from services.analytics.settings import AnalyticsSettings
from services.analytics.writer import BatchWriter, Settled
from services.common.db import Database
from services.common.observability import configure_logging

log = logging.getLogger("analytics.writer")
LENGTH = struct.Struct(">I")
ROOT = Path(__file__).resolve().parents[2]


class WriterUnavailable(RuntimeError):
    """The writer process could not take or answer a batch (the batch is retried)."""


class ProcessSink:
    """The parent's end: starts the child on demand, sends batches, reads the answers."""

    def __init__(
        self,
        settings: AnalyticsSettings,
        *,
        start_timeout: float = 60.0,
        answer_timeout: float = 300.0,
    ) -> None:
        self.settings = settings
        self.start_timeout = start_timeout
        self.answer_timeout = answer_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        async with self._lock:
            await self._ensure()

    async def write(self, batch_id: str, batch: list[Raw]) -> Settled:
        async with self._lock:
            proc = await self._ensure()
            assert proc.stdin is not None
            assert proc.stdout is not None
            try:
                _send(proc.stdin, (batch_id, batch))
                await proc.stdin.drain()
                line = await asyncio.wait_for(proc.stdout.readline(), self.answer_timeout)
            except (OSError, TimeoutError) as exc:
                await self._stop(kill=True)
                raise WriterUnavailable(f"the writer process did not answer: {exc!r}") from exc
            if not line:
                code = await self._stop(kill=True)
                raise WriterUnavailable(f"the writer process exited (code {code})")
            answer = json.loads(line)
            if "error" in answer:
                raise WriterUnavailable(f"the writer could not write: {answer['error']}")
            return Settled(
                answer["stored"], answer["duplicates"], answer["bots"], answer["dropped"]
            )

    async def close(self) -> None:
        """End the child after what it holds is written (its input ends, it exits)."""
        async with self._lock:
            await self._stop(kill=False)

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is not None and self._proc.returncode is None:
            return self._proc
        path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
        env = {**os.environ, "PYTHONPATH": path}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.analytics.writer_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        self._proc = proc
        try:
            _send(proc.stdin, self.settings)
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), self.start_timeout)
        except (OSError, TimeoutError) as exc:
            await self._stop(kill=True)
            raise WriterUnavailable(f"the writer process did not start: {exc!r}") from exc
        if not line or not json.loads(line).get("ready"):
            code = await self._stop(kill=True)
            raise WriterUnavailable(
                f"the writer process did not start (code {code}); its log is on stderr"
            )
        return proc

    async def _stop(self, *, kill: bool) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.returncode is None:
            if kill:
                proc.kill()
            elif proc.stdin is not None:
                proc.stdin.close()
        try:
            return await asyncio.wait_for(proc.wait(), 30.0)
        except TimeoutError:
            proc.kill()
            return await proc.wait()


def _send(stream: asyncio.StreamWriter, value: object) -> None:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(LENGTH.pack(len(payload)) + payload)


async def _receive(stream: asyncio.StreamReader) -> Any:
    """The next frame's value, or None at the end of input."""
    try:
        header = await stream.readexactly(LENGTH.size)
        (size,) = LENGTH.unpack(header)
        return pickle.loads(await stream.readexactly(size))
    except asyncio.IncompleteReadError:
        return None


async def _child() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def answer(value: dict[str, Any]) -> None:
        out.write(json.dumps(value).encode() + b"\n")
        out.flush()

    settings = await _receive(reader)
    if not isinstance(settings, AnalyticsSettings):
        return
    database = Database.from_url(settings.resolved_database_url())
    writer = BatchWriter(database, settings)
    upkeep = None
    if settings.run_background:
        upkeep = asyncio.create_task(writer.upkeep_loop(system_clock), name="analytics-upkeep")
    answer({"ready": True})
    try:
        while (frame := await _receive(reader)) is not None:
            batch_id, batch = frame
            try:
                settled = await writer.write(batch_id, batch)
            except Exception as exc:
                log.exception("analytics batch write failed; the service will retry it")
                answer({"id": batch_id, "error": repr(exc)})
                continue
            answer(
                {
                    "id": batch_id,
                    "stored": settled.stored,
                    "duplicates": settled.duplicates,
                    "bots": settled.bots,
                    "dropped": settled.dropped,
                }
            )
    finally:
        if upkeep is not None:
            upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
        await database.dispose()


def main() -> None:
    # Ctrl-C in a terminal and `kill` of the process group reach the child too; it must
    # outlive its parent's shutdown, which drains the queue through it and then ends its
    # input: the end of input (or the parent's death) is what ends the child.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    asyncio.run(_child())


if __name__ == "__main__":
    main()
