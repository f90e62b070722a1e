"""Password hashing with argon2id (argon2-cffi's recommended parameters).

A hash or a check costs about 100 ms of CPU (more on a busy machine). The request path uses
`PasswordHashing`, which runs it in worker threads of its own (argon2 releases the GIL), one
per CPU and at the lowest CPU priority (nice 19): the event loop keeps serving everything
else, and a burst of sign-ins queues instead of starving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")
HASHING_NICENESS = 19

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as for a known one.
_DUMMY_HASH = _hasher.hash("timing-equaliser-not-a-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; constant work whether or not the user exists."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class PasswordHashing:
    """argon2 off the event loop: `concurrency` worker threads of its own (default: the
    CPU count), at a lower CPU priority than the loop; a burst queues for them."""

    def __init__(self, concurrency: int | None = None) -> None:
        self.concurrency = concurrency or os.cpu_count() or 1
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        # Threads start on first use, not when the app is built.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.concurrency,
                thread_name_prefix="argon2",
                initializer=_lower_priority,
            )
        return self._executor

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool(), fn, *args)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """`verify_password` in a worker thread."""
        # Looked up at call time, so tests can wrap the module's function.
        return await self._run(lambda: verify_password(password_hash, password))

    async def hash(self, password: str) -> str:
        """`hash_password` in a worker thread."""
        return await self._run(lambda: hash_password(password))

    def close(self) -> None:
        """Stop the threads (the app's lifespan ends); queued work still finishes."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def _lower_priority() -> None:
    """Each hashing thread runs at nice 19 (Linux: per thread, inherited by argon2's own
    lane threads): when hashes fill every core, the event loop still gets the CPU first,
    so health checks and reads stay fast during a burst of sign-ins. Idle CPU still goes
    to hashing; only on a host saturated by other work do sign-ins slow down."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
