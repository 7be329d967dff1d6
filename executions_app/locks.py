"""Execution ownership: at most one worker walks an execution at a time, and a worker that lost it
writes nothing.

Ownership is a lease in the execution's row (`lease_owner`, `lease_expires_at`, `lease_pid`,
`lease_epoch`), on PostgreSQL's clock. Taking it (`execution_lock`) bumps `lease_epoch`, the
fencing token; every write of the walk (`sql.Write.epoch`: steps, checkpoint, status, timers of
a pause) is conditioned on that epoch in the same statement, and its other writes — the children
it starts, the concurrency slot it takes or gives back, its timeout timer — check it in their own
transaction (`lease_fence`, the row locked FOR SHARE until commit). So once another worker took
the execution over, the old owner's writes fail with `LeaseLost` and it drops the walk.

A lease is free when it was released, when it expired (`SCHEMA_LEASE_SECONDS`: a worker renews the
leases it holds every third of that, from a thread — a frozen (SIGSTOP) or cut-off worker does
not), or when its owner's PostgreSQL backend is gone (kill -9 or OOM: the connection closed, the
next delivery continues at once). So a worker killed is taken over at once, one frozen or
partitioned within the lease length; docs/operations.md ("Failure model") has the figures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from .sql import LeaseLost, queries

__all__ = ["LeaseLost", "execution_lock", "held_epoch", "is_locked_elsewhere", "lease_fence", "lease_released"]

logger = logging.getLogger("schema.engine")

_held: dict[str, int] = {}  # execution id → epoch, of the walks of this process
_released: set[str] = set()  # walks of this process whose last write released the lease itself
_held_lock = threading.Lock()
_renewer: list[threading.Thread] = []  # this process's renewal thread, started by its first walk


def held_epoch(execution_id: str) -> int | None:
    """The epoch this process walks `execution_id` under (None: not under a lease of ours)."""
    return _held.get(execution_id)


def lease_released(execution_id: str) -> None:
    """The walk's fenced write finished the execution and cleared its lease in the same statement
    (sql.Write): no release statement when the walk ends. Its epoch stays held (what the walk still
    writes stays fenced); the renewer cannot extend a released lease (`lease_expires_at` is NULL)."""
    with _held_lock:
        if execution_id in _held:
            _released.add(execution_id)


def lease_fence(execution_id: str) -> None:
    """The fence of a walk's writes that are not `sql.Write` (children it starts, its concurrency
    slot, its timers): call it inside their transaction. Raises `LeaseLost` when this process walks
    the execution under an epoch that is no longer current; outside a walk of ours it does nothing."""
    epoch = held_epoch(execution_id)
    if epoch is None:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("lease_fence must run inside the transaction of the write it guards")
    if not queries().lease_fence(execution_id, epoch):
        raise LeaseLost(execution_id)


def is_locked_elsewhere(execution_id: str) -> bool:
    """True when some live worker holds the execution (used by the reconciler)."""
    return queries().is_locked_elsewhere(execution_id)


@contextmanager
def execution_lock(execution_id: str, owner: str) -> Iterator[bool]:
    """Yield True if this worker now owns the execution (and release it afterwards)."""
    epoch = queries().lease_acquire(execution_id, owner, settings.SCHEMA_LEASE_SECONDS)
    if epoch is None:
        yield False
        return
    if epoch == 0:  # no such execution (deleted): the walk finds it missing
        yield True
        return
    with _held_lock:
        _held[execution_id] = epoch
    _ensure_renewer()
    try:
        yield True
    finally:
        with _held_lock:
            if _held.get(execution_id) == epoch:
                del _held[execution_id]
            released = execution_id in _released
            _released.discard(execution_id)
        # A finished walk skips the round trip: that no-op UPDATE cost ~0.2 ms of PostgreSQL CPU.
        if not released:
            try:
                queries().lease_release(execution_id, epoch)
            except Exception:  # noqa: BLE001 - the lease expires by itself; the connection may be dead
                connection.close()


def _ensure_renewer() -> None:
    """Started lazily: a pool process forked by Celery has no thread of its parent's."""
    if _renewer and _renewer[0].is_alive():
        return
    with _held_lock:
        if not (_renewer and _renewer[0].is_alive()):
            _renewer[:] = [threading.Thread(target=_renew_forever, name="lease-renewer", daemon=True)]
            _renewer[0].start()


def _renew_forever() -> None:
    """Every third of the lease length: extend the leases of this process's walks (own connection)."""
    seconds = float(settings.SCHEMA_LEASE_SECONDS)
    stop = threading.Event()
    while not stop.wait(seconds / 3):
        with _held_lock:
            held = dict(_held)
        if not held:
            continue
        try:
            kept = queries().lease_renew(held, seconds)
        except Exception as exc:  # noqa: BLE001 - database away: the leases expire, takeover follows
            logger.warning("lease renewal failed: %s", exc, extra={"executions": len(held)})
            connection.close()
            continue
        with _held_lock:  # a walk that finished meanwhile released its lease itself: not lost
            lost = {
                execution_id
                for execution_id in set(held) - kept
                if _held.get(execution_id) == held[execution_id] and execution_id not in _released
            }
        for execution_id in lost:
            logger.warning(
                "lease lost: another worker took the execution over; this walk's writes will be refused",
                extra={"execution_id": execution_id, "lease_epoch": held[execution_id]},
            )
