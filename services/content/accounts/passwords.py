"""Password hashing with argon2id (argon2-cffi's recommended parameters).

A hash or a check costs about 100 ms of CPU. The request path uses `PasswordHashing`, which
runs it in a worker thread (argon2 releases the GIL), at most one per CPU at once: the event
loop keeps serving everything else, and a burst of sign-ins queues instead of starving it.
"""

from __future__ import annotations

import os

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

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
    """argon2 off the event loop: worker threads, `concurrency` at once (default: CPUs)."""

    def __init__(self, concurrency: int | None = None) -> None:
        self.concurrency = concurrency or os.cpu_count() or 1
        self._limiter: anyio.CapacityLimiter | None = None

    def _limit(self) -> anyio.CapacityLimiter:
        # Created on first use: a limiter belongs to the running event loop.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """`verify_password` in a worker thread."""
        return await anyio.to_thread.run_sync(
            verify_password, password_hash, password, limiter=self._limit()
        )

    async def hash(self, password: str) -> str:
        """`hash_password` in a worker thread."""
        return await anyio.to_thread.run_sync(hash_password, password, limiter=self._limit())
