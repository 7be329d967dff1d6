"""One beat at a time: the beat process holds a PostgreSQL session advisory lock while it runs.

A second beat (a second replica, an operator's stray `celery beat`, a rolling deploy's overlap)
stands by at start — one WARNING line — until the lock is free, so two beats never fire the same
schedule (cron triggers, the reconciler) twice. The lock lives on the beat's own connection, which
its watchdog touches every `BEAT_LOCK_CHECK_SECONDS`:
- if that connection fails (PostgreSQL restarted, the session ended), the beat process ends within
  that time (its supervisor restarts it, and it competes for the lock again);
- if the holder falls silent (frozen, cut off: its session stays open but idle, and TCP keepalives
  may never end it), a standby ends the holder's session once it has been silent for
  `SCHEMA_BEAT_LOCK_SECONDS` (PostgreSQL's clock) and takes the lock: takeover within that plus one
  poll (docs/operations.md "Failure model");
- before each send, beat checks that its session is still alive (`fence`, from the project's
  scheduler `config.beat_scheduler`): a beat that wakes up or heals after a takeover sends nothing.
A cron tick carries its own time, and the worker starts one execution per (schema, tick), so even a
send that slipped between the check and a takeover cannot start a tick twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import psycopg

logger = logging.getLogger("schema.beat")
BEAT_LOCK_KEY = 0x5C4E_BEA7  # one constant advisory-lock key for "the beat"
BEAT_LOCK_CHECK_SECONDS = 5.0
BEAT_LOCK_SILENT_SECONDS = 30.0  # the default of SCHEMA_BEAT_LOCK_SECONDS
# The session holding the lock and how long it has been silent (a watchdog touches it every 5 s).
_HOLDER_SQL = """SELECT a.pid, EXTRACT(EPOCH FROM now() - GREATEST(a.query_start, a.state_change, a.backend_start))
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
_held: list[psycopg.Connection[Any]] = []  # the connection holding the lock, in the beat that holds it


def connect(database: dict[str, Any]) -> psycopg.Connection[Any]:
    options = {k: v for k, v in (database.get("OPTIONS") or {}).items() if k != "prepare_threshold"}
    return psycopg.connect(
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        dbname=database["NAME"],
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        autocommit=True,
        connect_timeout=10,
        **options,
    )


def try_hold(connection: psycopg.Connection[Any]) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY]).fetchone()
    return bool(row and row[0])


def end_silent_holder(connection: psycopg.Connection[Any], silent_after: float) -> bool:
    """Ends the session of a beat that holds the lock but has been silent for `silent_after` seconds
    (frozen or cut off); True when it did. A live holder touches its session every few seconds."""
    key = BEAT_LOCK_KEY & 0xFFFF_FFFF_FFFF_FFFF
    row = connection.execute(_HOLDER_SQL, [key >> 32, key & 0xFFFF_FFFF]).fetchone()
    if row is None or row[1] is None or float(row[1]) < silent_after:
        return False
    pid, silent = int(row[0]), float(row[1])
    connection.execute("SELECT pg_terminate_backend(%s)", [pid])
    logger.warning(
        "the beat holding the beat lock has been silent for %.0f s (frozen or cut off): its session %d ended; "
        "this beat takes over",
        silent,
        pid,
    )
    return True


def beat_lock_wait(
    database: dict[str, Any], *, poll: float = BEAT_LOCK_CHECK_SECONDS, silent_after: float = BEAT_LOCK_SILENT_SECONDS
) -> psycopg.Connection[Any]:
    """Blocks until this process holds the beat lock; returns the connection that holds it."""
    announced = False
    while True:
        try:
            connection = connect(database)
            if try_hold(connection) or (end_silent_holder(connection, silent_after) and _retry_hold(connection)):
                if announced:
                    logger.warning("beat lock taken: this beat now fires the schedules")
                _held[:] = [connection]
                return connection
            connection.close()
            if not announced:
                logger.warning("another beat holds the beat lock; this one stands by until it is free")
                announced = True
        except psycopg.Error as exc:
            logger.warning("beat lock: database unavailable (%s); trying again", exc)
        time.sleep(poll)


def _retry_hold(connection: psycopg.Connection[Any]) -> bool:
    """The ended session lets go of the lock as its backend exits: a moment later."""
    for _ in range(50):
        if try_hold(connection):
            return True
        time.sleep(0.1)
    return False


def fence() -> None:
    """Before beat sends anything: ends this process (sending nothing) unless its lock session is
    still alive. Only a session ended by a takeover (or a database restart) fails this check."""
    if not _held:
        return  # not a beat holding the lock (SQLite, make run's embedded mode)
    try:
        _held[0].execute("SELECT 1")
    except psycopg.Error as exc:
        _lost(exc)


def _lost(exc: BaseException) -> None:
    logger.error("beat lock lost (%s): this beat stops; its supervisor restarts it", exc)
    os._exit(1)


def watch(connection: psycopg.Connection[Any], *, every: float = BEAT_LOCK_CHECK_SECONDS) -> threading.Thread:
    """Ends the process when the connection holding the lock fails (the lock is then no longer ours)."""

    def check() -> None:
        while True:
            time.sleep(every)
            try:
                connection.execute("SELECT 1")  # also what tells a standby that this beat is alive
            except psycopg.Error as exc:
                _lost(exc)

    thread = threading.Thread(target=check, name="beat-lock-watchdog", daemon=True)
    thread.start()
    return thread
