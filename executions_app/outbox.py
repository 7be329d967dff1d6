"""The outbox relay: publishes, within seconds, the new executions whose publish was lost.

A trigger commits the execution, then its process publishes the run message (a webhook right after
its 202). A process that dies in between (kill -9, OOM), or whose broker connection hangs, leaves a
committed execution that no message names. The execution row itself is the outbox: the insert that
writes it also records the PostgreSQL backend that commits it (`creator_pid`, no extra statement,
executions_app/sql.py). Every `SCAN_SECONDS` this relay publishes an execution no worker has taken
yet (`pending`, lease never taken, not queued for a concurrency slot) when
- the process that committed it is gone: its backend is no longer in `pg_stat_activity` and this is
  the backend's latest execution (each thread's connection commits, then publishes, then commits
  the next, so only a backend's latest execution can be unpublished);
- its publish failed (the publisher hands it over on the channel `schema_outbox`, which the relay
  LISTENs to with psycopg 3: `lost:<id>`);
- it is older than `SCHEMA_OUTBOX_DEADLINE_SECONDS` while its start queue holds no ready message
  (so it is not waiting there): a hung publish, a missed notification, SQLite (`make run`, where
  this scan is the whole relay).
It runs as a thread of beat (one beat at a time: config/beat_lock.py), so exactly one relay runs
in every deployment form. A duplicate message is harmless (the lease); the reconciler stays the
last net.

The inserts used to NOTIFY the relay instead of stamping the row. A notifying transaction takes
PostgreSQL's cluster-wide notify lock before its commit and holds it through the WAL flush, so every
accept's commit waited for the one before it (no group commit): docs/performance.md.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from .dispatch import publish_execution, queue_ready_counts, start_queue
from .models import Execution, ExecutionStatus
from .sql import OUTBOX_CHANNEL, OUTBOX_LOST

logger = logging.getLogger("schema.outbox")
TICK_SECONDS = 0.25
SCAN_SECONDS = 0.5
BATCH = 500


class OutboxRelay:
    """The relay's decisions, one `tick` at a time (the loop feeding it is `relay_forever`)."""

    def __init__(self, *, deadline: float | None = None) -> None:
        self.deadline = float(settings.SCHEMA_OUTBOX_DEADLINE_SECONDS if deadline is None else deadline)
        # Beyond this age an execution is the reconciler's.
        self.window = float(settings.SCHEMA_RECONCILE_GRACE_SECONDS + settings.SCHEMA_RECONCILE_INTERVAL_SECONDS)
        self.handed_over: set[str] = set()
        self.relayed: dict[str, float] = {}  # execution id → when relayed (never twice)
        self.last_scan = 0.0

    def notified(self, pid: int, payload: str) -> None:
        if payload.startswith(OUTBOX_LOST):
            self.handed_over.add(payload[len(OUTBOX_LOST) :])
        # anything else: an execution id notified by an API of an earlier release (its insert still
        # notified); its row has no creator_pid, the deadline scan and the reconciler cover it

    def tick(self, now: float | None = None) -> list[str]:
        """Publishes what is lost; returns the ids published."""
        now = time.monotonic() if now is None else now
        for execution_id, when in list(self.relayed.items()):
            if now - when > self.window:
                del self.relayed[execution_id]
        reasons: dict[str, str] = dict.fromkeys(self.handed_over, "publish failed")
        self.handed_over = set()
        scan = now - self.last_scan >= SCAN_SECONDS
        if scan:
            self.last_scan = now
            if connection.vendor == "postgresql":
                for execution_id in _orphans(timezone.now() - timedelta(seconds=self.window)):
                    if execution_id not in self.relayed:
                        reasons.setdefault(execution_id, "its process is gone")
        relayed = self._publish(reasons, now)
        if scan:
            relayed += self._scan(now)
        return relayed

    def _scan(self, now: float) -> list[str]:
        """Not taken after the deadline, and not among the ready messages of its start queue (the
        priority queue for a high-priority one)."""
        wall = timezone.now()
        candidates = [
            (str(execution_id), start_queue(priority))
            for execution_id, priority in _untaken()
            .filter(
                created_at__lt=wall - timedelta(seconds=self.deadline),
                created_at__gte=wall - timedelta(seconds=self.window),
            )
            .values_list("id", "priority")[:BATCH]
            if str(execution_id) not in self.relayed
        ]
        if not candidates:
            return []
        ready = queue_ready_counts(*sorted({queue for _, queue in candidates}))
        lost = [execution_id for execution_id, queue in candidates if not ready.get(queue)]
        return self._publish(dict.fromkeys(lost, "not taken"), now)

    def _publish(self, reasons: dict[str, str], now: float) -> list[str]:
        if not reasons:
            return []
        untaken = _untaken().filter(pk__in=list(reasons)).values_list("id", "request_id", "created_at", "priority")
        relayed: list[str] = []
        wall = timezone.now()
        for execution_id, request_id, created_at, priority in untaken:
            key = str(execution_id)
            # a broker error: the loop retries from the scan
            publish_execution(key, request_id=request_id, priority=priority)
            self.relayed[key] = now
            relayed.append(key)
            logger.warning(
                "outbox relay published an execution whose publish was lost (%s)",
                reasons[key],
                extra={"execution_id": key, "reason": reasons[key], "age_ms": _age_ms(created_at, wall)},
            )
        return relayed


def _untaken() -> Any:
    """New executions no worker has taken (and not queued for a concurrency slot)."""
    return Execution.objects.filter(
        status=ExecutionStatus.PENDING, lease_epoch=0, queued_reason="", started_at__isnull=True
    )


def _age_ms(created_at: datetime, now: datetime) -> int:
    return int((now - created_at).total_seconds() * 1000)


# The backends that committed an untaken execution since %s and are gone, then the latest execution
# each of them committed (taken or not: an earlier one was published before that commit).
_ORPHANS_SQL = """
WITH gone AS (
    SELECT DISTINCT u.creator_pid FROM executions u
    WHERE u.status = 'pending' AND u.lease_epoch = 0 AND u.queued_reason = '' AND u.started_at IS NULL
      AND u.created_at >= %s AND u.creator_pid IS NOT NULL
      AND u.creator_pid NOT IN (SELECT a.pid FROM pg_stat_activity a WHERE a.pid IS NOT NULL)
)
SELECT DISTINCT ON (e.creator_pid) e.id FROM executions e JOIN gone ON gone.creator_pid = e.creator_pid
WHERE e.created_at >= %s ORDER BY e.creator_pid, e.created_at DESC, e.id DESC
"""


def _orphans(since: datetime) -> list[str]:
    """The latest execution of each gone backend that left an untaken one (`_ORPHANS_SQL`)."""
    with connection.cursor() as cursor:
        cursor.execute(_ORPHANS_SQL, [since, since])
        return [str(row[0]) for row in cursor.fetchall()]


def relay_forever(stop: threading.Event) -> None:
    """LISTENs (for hand-overs) on its own connection and ticks every `TICK_SECONDS` until `stop` is
    set; reconnects after a database error (what it missed meanwhile, the scans find)."""
    relay = OutboxRelay()
    try:
        while not stop.is_set():
            try:
                if connection.vendor == "postgresql":
                    _listen(relay, stop)
                else:
                    stop.wait(TICK_SECONDS)
                    relay.tick()
            except Exception as exc:  # noqa: BLE001 - database or broker down: the relay waits, carries on
                logger.warning("outbox relay: %s: %s; retrying in 1 s", type(exc).__name__, exc)
                if isinstance(exc, (DatabaseError, psycopg.Error)):
                    connection.close()
                stop.wait(1.0)
    finally:
        connection.close()  # this thread's own Django connection


def _listen(relay: OutboxRelay, stop: threading.Event) -> None:
    from config.beat_lock import connect

    with connect(settings.DATABASES["default"]) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        logger.info("outbox relay listening", extra={"channel": OUTBOX_CHANNEL})
        while not stop.is_set():
            for notify in listener.notifies(timeout=TICK_SECONDS):
                relay.notified(notify.pid, notify.payload)
            relay.tick()


def start_relay_thread() -> threading.Thread:
    """The relay as a daemon thread of the calling process (beat)."""
    stop = threading.Event()
    thread = threading.Thread(target=relay_forever, args=(stop,), name="outbox-relay", daemon=True)
    thread.start()
    logger.info("outbox relay started", extra={"deadline_s": settings.SCHEMA_OUTBOX_DEADLINE_SECONDS})
    return thread
