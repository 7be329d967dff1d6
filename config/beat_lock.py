"""One beat at a time: the beat process holds a PostgreSQL session advisory lock while it runs.

A second beat (a second replica, an operator's stray `celery beat`, a rolling deploy's overlap)
stands by at start — one WARNING line — until the lock is free, so two beats never fire the same
schedule (cron triggers, the reconciler) twice. The lock lives on the beat's own connection: if
that connection fails (PostgreSQL restarted, the beat cut off), a watchdog ends the beat process
within `BEAT_LOCK_CHECK_SECONDS` (its supervisor restarts it, and it competes for the lock again);
the session a cut-off beat leaves behind ends by the server-side keepalive (docs/operations.md
"Failure model"), freeing the lock for the standby.
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


def beat_lock_wait(database: dict[str, Any], *, poll: float = BEAT_LOCK_CHECK_SECONDS) -> psycopg.Connection[Any]:
    """Blocks until this process holds the beat lock; returns the connection that holds it."""
    announced = False
    while True:
        try:
            connection = connect(database)
            if try_hold(connection):
                if announced:
                    logger.warning("beat lock taken: this beat now fires the schedules")
                return connection
            connection.close()
            if not announced:
                logger.warning("another beat holds the beat lock; this one stands by until it is free")
                announced = True
        except psycopg.Error as exc:
            logger.warning("beat lock: database unavailable (%s); trying again", exc)
        time.sleep(poll)


def watch(connection: psycopg.Connection[Any], *, every: float = BEAT_LOCK_CHECK_SECONDS) -> threading.Thread:
    """Ends the process when the connection holding the lock fails (the lock is then no longer ours)."""

    def check() -> None:
        while True:
            time.sleep(every)
            try:
                connection.execute("SELECT 1")
            except psycopg.Error as exc:
                logger.error("beat lock lost (%s): this beat stops; its supervisor restarts it", exc)
                os._exit(1)

    thread = threading.Thread(target=check, name="beat-lock-watchdog", daemon=True)
    thread.start()
    return thread
