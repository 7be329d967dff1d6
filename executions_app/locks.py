"""Execution ownership: at most one worker walks an execution at a time.

On PostgreSQL a session-level advisory lock keyed by the execution id is held for the whole task:
if the worker process dies (kill -9, OOM, node loss) its connection closes and the lock is released
at once, so the redelivered message can continue immediately. The `lease_owner` /
`lease_expires_at` columns are written too, for operators and for SQLite (embedded mode), where
the lease itself is the lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from . import sql
from .models import Execution


def _lock_key(execution_id: str) -> int:
    digest = hashlib.blake2b(str(execution_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def try_lock(execution_id: str, owner: str) -> bool:
    if _postgres():
        rows, _ = sql.execute("SELECT pg_try_advisory_lock(%s::bigint)", [_lock_key(execution_id)], repeatable=True)
        return bool(rows and rows[0][0])
    now = timezone.now()
    taken = Execution.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now) | Q(lease_owner=owner), pk=execution_id
    ).update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=settings.SCHEMA_LEASE_SECONDS))
    return taken == 1


def unlock(execution_id: str, owner: str) -> None:
    if _postgres():
        sql.execute("SELECT pg_advisory_unlock(%s::bigint)", [_lock_key(execution_id)])
        return
    Execution.objects.filter(pk=execution_id, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def is_locked_elsewhere(execution_id: str) -> bool:
    """True when some live worker holds the execution (used by the reconciler)."""
    if _postgres():
        if try_lock(execution_id, "reconciler"):
            unlock(execution_id, "reconciler")
            return False
        return True
    return Execution.objects.filter(pk=execution_id, lease_expires_at__gte=timezone.now()).exists()


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
