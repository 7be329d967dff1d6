"""Prepared statements on PostgreSQL: parsed and planned once per connection, then only executed.

Django's psycopg cursors bind parameters on the client (every statement is sent, parsed and planned
as new text). The few statements every execution runs — the webhook's rate-limit count, schema read
and insert; the worker's lock, load, write and unlock — go through a
server-side-binding psycopg cursor on Django's own connection (same transaction, same session: the
advisory lock is the session's) with `prepare=True`: PostgreSQL parses and plans each of them once
per connection. Errors are Django's (`connection.wrap_database_errors`), so the task's retry policy
and Django's "close the connection after an error" apply unchanged; with `DEBUG` or a
`CaptureQueriesContext` the statements are recorded like Django's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connection, connections
from psycopg import pq

_ROWS = pq.ExecStatus.TUPLES_OK


def execute(sql: str, params: Sequence[Any], *, repeatable: bool = False) -> tuple[list[tuple[Any, ...]] | None, int]:
    """Runs one prepared statement; returns (rows or None when it returns none, rowcount).

    Connections are kept between requests and tasks (`CONN_MAX_AGE`); Django's `CONN_HEALTH_CHECKS`
    sends a `SELECT 1` before the first statement of each request to find a connection PostgreSQL
    dropped (restart, failover, idle timeout). These statements skip that round trip: with
    `repeatable=True` (a statement safe to send twice: a read, the advisory lock, a rate-limit
    count) outside a transaction, a connection found dead is closed and the statement runs once
    more on a new one — the health check, paid only when it fails.
    """
    try:
        return _execute(sql, params)
    except (OperationalError, InterfaceError):
        if not repeatable or connection.in_atomic_block or connection.is_usable():
            raise
        connection.close()
        return _execute(sql, params)


def _execute(sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]] | None, int]:
    # Resolved once: each attribute read through the `connection` proxy is a thread-local lookup.
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    started = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
        # What `cursor.description is not None` tells, without building a Column per column.
        result = cursor.pgresult
        rows = cursor.fetchall() if result is not None and (result.nfields or result.status == _ROWS) else None
        count = cursor.rowcount
    if db.queries_logged:
        db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows, count


class Rider:
    """A read that rides on the rate-limit statement of a request (PostgreSQL: one round trip
    instead of two). `sql` is a SELECT returning at most one row; after `hit_many`, `fetched` is
    True and `row` is that row or None. A rider that was not fetched (no shared throttle counted,
    or another database) leaves the view to run its query itself."""

    def __init__(self, sql: str, params: Sequence[Any]) -> None:
        self.sql, self.params = sql.strip(), list(params)
        self.fetched = False
        self.row: tuple[Any, ...] | None = None
