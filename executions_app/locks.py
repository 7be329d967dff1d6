"""Execution ownership: at most one worker walks an execution at a time.

On PostgreSQL a session-level advisory lock keyed by the execution id is held for the whole task:
if the worker process dies (kill -9, OOM, node loss) its connection closes and the lock is released
at once, so the redelivered message can continue immediately. The `lease_owner` /
`lease_expires_at` columns are written too, for operators and for SQLite (embedded mode), where
the lease itself is the lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from .sql import queries


def try_lock(execution_id: str, owner: str) -> bool:
    return queries().try_lock(execution_id, owner)


def unlock(execution_id: str, owner: str) -> None:
    queries().unlock(execution_id, owner)


def is_locked_elsewhere(execution_id: str) -> bool:
    """True when some live worker holds the execution (used by the reconciler)."""
    return queries().is_locked_elsewhere(execution_id)


@contextmanager
def execution_lock(execution_id: str, owner: str) -> Iterator[bool]:
    """Yield True if this worker now owns the execution (and release it afterwards)."""
    acquired = try_lock(execution_id, owner)
    try:
        yield acquired
    finally:
        if acquired:
            try:
                unlock(execution_id, owner)
            except Exception:  # noqa: BLE001 - a dead connection released the lock already
                connection.close()
