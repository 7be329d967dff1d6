"""The PostgreSQL fast paths of executions, each beside its ORM fallback; chosen once per process.

The statements every execution runs — the webhook's insert; the worker's lock, load, write, unlock;
a wake-up's timer read and firing — are hand-written on PostgreSQL (`make bench-profile`: the ORM
spent more CPU building SQL than PostgreSQL spent running it) and sent as prepared statements
(`config.prepared`). `Queries` is the ORM version with the same semantics (SQLite, the embedded
`make run`); `PostgresQueries` overrides it. Callers use `queries()`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import F, Field, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.prepared import execute
from engine.store import Checkpoint, OwnershipLost, StepRecord, current_node_id

from .models import (
    FINISHED_STATUSES,
    Execution,
    ExecutionState,
    ExecutionStatus,
    ExecutionStep,
    ExecutionTimer,
    TimerStatus,
)

_OPEN = ~Q(status__in=FINISHED_STATUSES)
_FINISHED_SQL = "(" + ", ".join(f"'{status}'" for status in sorted(FINISHED_STATUSES)) + ")"
_LOAD_SQL = """
SELECT e.status, e.schema_id, e.trigger_type, e.trigger_payload, e.schema_version_id, s.checkpoint
FROM executions e LEFT JOIN execution_state s ON s.execution_id = e.id WHERE e.id = %s::uuid
"""
# The outbox relay's channel: a publish that failed hands the execution over on it (`lost:<id>`).
# Read by executions_app/outbox.py.
OUTBOX_CHANNEL = "schema_outbox"
OUTBOX_LOST = "lost:"
_EXECUTION_COLUMNS = frozenset({"result", "error", "finished_at", "lease_owner", "lease_expires_at"})
# The steps travel as ONE jsonb array parameter: a constant statement text (psycopg caches its
# parsing only below 50 parameters) and one json.dumps instead of two per step. Python None is SQL
# NULL in a JSONField, as Django stores it.
_STEPS_INSERT = """steps AS (INSERT INTO execution_steps
    (execution_id, seq, node_id, node_type, input, output, status, error, attempt, started_at, finished_at)
    SELECT %s::uuid, x.seq, x.node_id, x.node_type, NULLIF(x.input, 'null'::jsonb), NULLIF(x.output, 'null'::jsonb),
           x.status, x.error, x.attempt, x.started_at, x.finished_at
    FROM jsonb_to_recordset(%s::jsonb) AS x(seq integer, node_id text, node_type text, input jsonb, output jsonb,
         status text, error text, attempt integer, started_at timestamptz, finished_at timestamptz)), """
_STATE_UPDATE = """state AS (UPDATE execution_state SET checkpoint = %s::jsonb, context = %s::jsonb,
    current_node_id = %s, wait_kind = %s, resume_at = %s, updated_at = %s WHERE execution_id = %s)"""


def _from_jsonb(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _jsonb(value: Any) -> str | None:
    """A JSONField value as Django stores it: Python None is SQL NULL, anything else JSON text."""
    return None if value is None else json.dumps(value)


@dataclass(frozen=True)
class Write:
    """One write of the store: steps appended, checkpoint saved, status changed (if unfinished)."""

    execution_id: str
    steps: Sequence[StepRecord]
    checkpoint: Checkpoint
    wait_kind: str
    resume_at: datetime | None
    now: datetime
    status: str
    started_at: datetime  # COALESCEd: set by the first write only
    fields: dict[str, Any]  # more columns of `executions` to set with the status
    epoch: int | None = None  # the walk's fencing token: the write lands only while it is current


class LeaseLost(OwnershipLost):
    """Another worker took the execution over (its lease epoch moved on): this walk must stop."""


# `creator_pid` is not a parameter: the statement writes the inserting backend's pid itself.
_EXECUTION_FIELDS: list[Field[Any, Any]] = [f for f in Execution._meta.concrete_fields if f.name != "creator_pid"]
_STATE_FIELDS: list[Field[Any, Any]] = [f for f in ExecutionState._meta.concrete_fields if not f.primary_key]
_INSERT_SQL: dict[bool, str] = {}


def _insert_sql(qn: Any, keyed: bool) -> str:
    """`WITH e AS (INSERT INTO executions … RETURNING id) INSERT INTO execution_state … SELECT … FROM e`:
    both rows or neither, in one round trip, the execution stamped with this backend's pid for the
    outbox relay. With an idempotency key, a key already used inserts nothing (the partial unique
    index `executions_unique_idempotency_key` is the arbiter) and the statement returns no row."""
    sql = _INSERT_SQL.get(keyed)
    if sql is None:
        execution_columns = ", ".join([*(qn(f.column) for f in _EXECUTION_FIELDS), qn("creator_pid")])
        state_columns = ", ".join(qn(f.column) for f in [ExecutionState._meta.pk, *_STATE_FIELDS])
        on_conflict = (
            f" ON CONFLICT ({qn('schema_id')}, {qn('idempotency_key')}) WHERE {qn('idempotency_key')} IS NOT NULL"
            " DO NOTHING"
            if keyed
            else ""
        )
        executions, states = qn(Execution._meta.db_table), qn(ExecutionState._meta.db_table)
        values = ", ".join(["%s"] * len(_EXECUTION_FIELDS) + ["pg_backend_pid()"])
        state_values = ", ".join(["%s"] * len(_STATE_FIELDS))
        # Names from the models' metadata; every value is a parameter.
        insert = f"INSERT INTO {executions} ({execution_columns}) VALUES ({values}){on_conflict} RETURNING {qn('id')}"  # noqa: S608
        select = f"SELECT e.{qn('id')}, {state_values} FROM e"  # noqa: S608
        # No NOTIFY here: a notifying commit holds PostgreSQL's cluster-wide notify lock through its
        # WAL flush, which serialized every accept's commit (executions_app/outbox.py).
        returning = f"RETURNING {qn('execution_id')}"
        sql = f"WITH e AS ({insert}) INSERT INTO {states} ({state_columns}) {select} {returning}"
        _INSERT_SQL[keyed] = sql
    return sql


def _insert_execution_with_state(execution: Execution, state: ExecutionState) -> bool:
    """Inserts both rows with the values the ORM's `create` would write (each field's `pre_save`
    and `get_db_prep_save`: defaults, `auto_now`, JSON adaptation). False: the key was used before."""
    db = connections[DEFAULT_DB_ALIAS]  # not the `connection` proxy: ~60 reads below, each a thread-local lookup
    params = [f.get_db_prep_save(f.pre_save(execution, True), db) for f in _EXECUTION_FIELDS]
    params += [f.get_db_prep_save(f.pre_save(state, True), db) for f in _STATE_FIELDS]
    sql = _insert_sql(db.ops.quote_name, execution.idempotency_key is not None)
    rows, _ = execute(sql, params)  # prepared; never repeated (it is not safe to send twice)
    inserted = bool(rows)
    if inserted:
        execution.creator_pid = db.connection.info.backend_pid  # what pg_backend_pid() wrote
        for instance in (execution, state):
            instance._state.adding = False
            instance._state.db = db.alias
    return inserted


_TIMER_FIELDS = ("id", "execution_id", "due_at", "reason", "node_id", "status", "created_at", "fired_at", "lateness_ms")
_TIMER_COLUMNS = ", ".join(_TIMER_FIELDS)
_GET_SQL = f"SELECT {_TIMER_COLUMNS} FROM execution_timers WHERE id = %s"  # noqa: S608 - constant names
# Scheduled and due → fired, with its lateness, in one statement; no row: fired before, cancelled,
# deleted or not due yet.
_FIRE_SQL = f"""
UPDATE execution_timers
SET status = %s, fired_at = %s,
    lateness_ms = GREATEST(0, EXTRACT(EPOCH FROM (%s::timestamptz - due_at)) * 1000)::double precision
WHERE id = %s AND status = %s AND due_at <= %s
RETURNING {_TIMER_COLUMNS}
"""  # noqa: S608 - constant names; every value is a parameter


def _timer(rows: list[tuple[object, ...]] | None) -> ExecutionTimer | None:
    return ExecutionTimer.from_db(connection.alias, _TIMER_FIELDS, rows[0]) if rows else None


# --- the lease (executions_app/locks.py) ---------------------------------------------------------------
# Free when never taken or released, expired (PostgreSQL's clock: worker clocks do not matter), or
# its owner's backend is gone (kill -9, OOM: the connection closed, no need to wait for the expiry).
_LEASE_FREE = """(lease_expires_at IS NULL OR lease_expires_at < now() OR lease_pid IS NULL
    OR NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(lease_pid)))"""
_ACQUIRE_SQL = f"""UPDATE executions SET lease_epoch = lease_epoch + 1, lease_owner = %s, lease_pid = pg_backend_pid(),
    lease_expires_at = now() + make_interval(secs => %s) WHERE id = %s::uuid AND {_LEASE_FREE} RETURNING lease_epoch"""  # noqa: S608
_RENEW_SQL = """UPDATE executions e SET lease_expires_at = now() + make_interval(secs => %s)
    FROM unnest(%s::uuid[], %s::bigint[]) AS h(id, epoch)
    WHERE e.id = h.id AND e.lease_epoch = h.epoch AND e.lease_expires_at IS NOT NULL RETURNING e.id"""
_RELEASE_SQL = """UPDATE executions SET lease_expires_at = NULL, lease_pid = NULL
    WHERE id = %s::uuid AND lease_epoch = %s AND lease_expires_at IS NOT NULL"""
_LEASE_FENCE_SQL = "SELECT 1 FROM executions WHERE id = %s::uuid AND lease_epoch = %s FOR SHARE"
_HELD_SQL = """SELECT 1 FROM executions WHERE id = %s::uuid AND lease_expires_at >= now() AND lease_pid IS NOT NULL
    AND EXISTS (SELECT 1 FROM pg_stat_get_activity(lease_pid))"""
# The fenced write: the same parts, each conditioned on the epoch row locked FOR SHARE first.
_FENCE = "fence AS (SELECT 1 FROM executions WHERE id = %s::uuid AND lease_epoch = %s FOR SHARE), "
_STEPS_INSERT_FENCED = _STEPS_INSERT.replace(
    "finished_at timestamptz)), ", "finished_at timestamptz) WHERE EXISTS (SELECT 1 FROM fence)), "
)
_STATE_UPDATE_FENCED = _STATE_UPDATE.replace(
    "WHERE execution_id = %s)", "WHERE execution_id = %s AND EXISTS (SELECT 1 FROM fence))"
)
_FENCED_TAIL = (
    " AND EXISTS (SELECT 1 FROM fence) RETURNING 1)"
    " SELECT (SELECT count(*) FROM fence), (SELECT count(*) FROM execution)"
)


# A loaded execution: (status, schema id, trigger type, trigger payload, pinned version id, checkpoint).
Loaded = tuple[str, str, str, Any, int, dict[str, Any]]


class Queries:
    """The ORM versions (SQLite in the embedded mode): the lease columns are the lock."""

    def execution_insert(self, execution: Execution, state: ExecutionState) -> bool:
        """Inserts the execution and its state, both or neither. False: its idempotency key was used
        before (or by a concurrent delivery), nothing was inserted."""
        key = execution.idempotency_key
        if key and Execution.objects.filter(schema_id=execution.schema_id, idempotency_key=key).exists():
            return False
        try:
            with transaction.atomic():
                execution.save(force_insert=True)
                state.execution = execution
                state.save(force_insert=True)
        except IntegrityError:
            if key:  # a concurrent delivery with the same key won the race
                return False
            raise
        return True

    def outbox_hand_over(self, execution_id: str) -> None:
        """A committed execution whose publish failed, for the outbox relay: nothing to tell without
        LISTEN/NOTIFY (the relay's scan and the reconciler find it)."""

    def execution_load(self, execution_id: str) -> Loaded | None:
        execution = Execution.objects.select_related("state").filter(pk=execution_id).first()
        if execution is None:
            return None
        state = getattr(execution, "state", None)
        return (
            execution.status,
            str(execution.schema_id),
            execution.trigger_type,
            execution.trigger_payload,
            execution.schema_version_id,
            dict(state.checkpoint) if state else {},
        )

    def execution_write(self, w: Write) -> int:
        """Appends the steps, saves the checkpoint, moves the unfinished execution to `w.status`, in
        one transaction; returns 1 when the status changed (0: it had finished, e.g. was cancelled)."""
        with transaction.atomic():
            if w.epoch is not None and not (
                Execution.objects.select_for_update().filter(pk=w.execution_id, lease_epoch=w.epoch).exists()
            ):
                raise LeaseLost(w.execution_id)
            if w.steps:
                ExecutionStep.objects.bulk_create(
                    ExecutionStep(
                        execution_id=w.execution_id,
                        seq=s.seq,
                        node_id=s.node_id,
                        node_type=s.node_type,
                        input=s.input,
                        output=s.output,
                        status=s.status,
                        error=s.error,
                        attempt=s.attempt,
                        started_at=s.started_at,
                        finished_at=s.finished_at,
                    )
                    for s in w.steps
                )
            ExecutionState.objects.filter(execution_id=w.execution_id).update(
                checkpoint=w.checkpoint,
                context=w.checkpoint.get("vars", {}),
                current_node_id=current_node_id(w.checkpoint),
                wait_kind=w.wait_kind,
                resume_at=w.resume_at,
                updated_at=w.now,
            )
            execution = Execution.objects.filter(_OPEN, pk=w.execution_id)
            if w.status == ExecutionStatus.RUNNING:
                execution = execution.exclude(status=ExecutionStatus.RUNNING)
            return execution.update(status=w.status, started_at=Coalesce("started_at", Value(w.started_at)), **w.fields)

    def lease_acquire(self, execution_id: str, owner: str, seconds: float) -> int | None:
        """Takes the execution when no lease is held (or it expired): returns the new epoch; None when
        another worker holds it; 0 when the execution does not exist (nothing to own)."""
        now = timezone.now()
        with transaction.atomic():
            taken = Execution.objects.filter(
                Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now), pk=execution_id
            ).update(
                lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds), lease_epoch=F("lease_epoch") + 1
            )
            epoch = Execution.objects.filter(pk=execution_id).values_list("lease_epoch", flat=True).first()
            if epoch is None:
                return 0
            return int(epoch) if taken == 1 else None

    def lease_renew(self, held: dict[str, int], seconds: float) -> set[str]:
        """Extends the leases still ours ({execution id: epoch}); returns the ids that are."""
        until = timezone.now() + timedelta(seconds=seconds)
        kept = set()
        for execution_id, epoch in held.items():
            # a lease released meanwhile (the walk's last write) stays released
            if Execution.objects.filter(pk=execution_id, lease_epoch=epoch, lease_expires_at__isnull=False).update(
                lease_expires_at=until
            ):
                kept.add(execution_id)
        return kept

    def lease_release(self, execution_id: str, epoch: int) -> None:
        Execution.objects.filter(pk=execution_id, lease_epoch=epoch, lease_expires_at__isnull=False).update(
            lease_expires_at=None, lease_pid=None
        )

    def is_locked_elsewhere(self, execution_id: str) -> bool:
        return Execution.objects.filter(pk=execution_id, lease_expires_at__gte=timezone.now()).exists()

    def lease_fence(self, execution_id: str, epoch: int) -> bool:
        """Inside the caller's transaction: True while `epoch` is the execution's current one; the row
        stays locked until the transaction ends, so a takeover cannot slip in before it commits."""
        return Execution.objects.select_for_update().filter(pk=execution_id, lease_epoch=epoch).exists()

    def timer_get(self, timer_id: int) -> ExecutionTimer | None:
        return ExecutionTimer.objects.filter(pk=timer_id).first()

    def timer_fire(self, timer_id: int, now: datetime) -> ExecutionTimer | None:
        timer = ExecutionTimer.objects.filter(pk=timer_id).first()
        if timer is None or timer.status != TimerStatus.SCHEDULED or timer.due_at > now:
            return None
        lateness_ms = max(0.0, (now - timer.due_at).total_seconds() * 1000)
        updated = ExecutionTimer.objects.filter(pk=timer_id, status=TimerStatus.SCHEDULED).update(
            status=TimerStatus.FIRED, fired_at=now, lateness_ms=lateness_ms
        )
        if not updated:
            return None
        timer.status, timer.fired_at, timer.lateness_ms = TimerStatus.FIRED, now, lateness_ms
        return timer


class PostgresQueries(Queries):
    """Each operation one prepared statement; the lease is free at once when its owner's backend is
    gone (kill -9, OOM: the connection closed), else when it expires (`_LEASE_FREE`)."""

    def execution_insert(self, execution: Execution, state: ExecutionState) -> bool:
        if connection.in_atomic_block:  # a savepoint: a failure leaves the caller's transaction usable
            with transaction.atomic():
                return _insert_execution_with_state(execution, state)
        return _insert_execution_with_state(execution, state)  # autocommit: one statement, one transaction

    def outbox_hand_over(self, execution_id: str) -> None:
        with connection.cursor() as cursor:  # off the hot path: only after a failed publish
            cursor.execute("SELECT pg_notify(%s, %s)", [OUTBOX_CHANNEL, OUTBOX_LOST + execution_id])

    def execution_load(self, execution_id: str) -> Loaded | None:
        rows, _ = execute(_LOAD_SQL, [execution_id], repeatable=True)
        if not rows:
            return None
        # Django has psycopg hand jsonb over as text (JSONField decodes it): decode it here.
        found = rows[0]
        return (*found[:3], _from_jsonb(found[3]), found[4], _from_jsonb(found[5]))  # type: ignore[return-value]

    def execution_write(self, w: Write) -> int:
        """The whole write as one statement (atomic in autocommit; no BEGIN/COMMIT round trips)."""
        params: list[Any] = []
        statement = ["WITH "]
        fenced = w.epoch is not None
        if fenced:  # every part below lands only while the walk's epoch is current (FOR SHARE: a
            # concurrent takeover commits first and this finds nothing, or waits for this write)
            statement.append(_FENCE)
            params += [w.execution_id, w.epoch]
        if w.steps:
            statement.append(_STEPS_INSERT_FENCED if fenced else _STEPS_INSERT)
            rows = [
                {
                    "seq": s.seq, "node_id": s.node_id, "node_type": s.node_type, "input": s.input, "output": s.output,
                    "status": s.status, "error": s.error, "attempt": s.attempt,
                    "started_at": s.started_at.isoformat(), "finished_at": s.finished_at.isoformat(),
                }
                for s in w.steps
            ]  # fmt: skip
            params += [w.execution_id, json.dumps(rows)]
        statement.append(_STATE_UPDATE_FENCED if fenced else _STATE_UPDATE)
        params += [
            json.dumps(w.checkpoint), json.dumps(w.checkpoint.get("vars", {})), current_node_id(w.checkpoint),
            w.wait_kind, w.resume_at, w.now, w.execution_id,
        ]  # fmt: skip
        assignments = ["status = %s", "started_at = COALESCE(started_at, %s)"]
        params += [w.status, w.started_at]
        for name, value in w.fields.items():
            if name not in _EXECUTION_COLUMNS:
                raise ValueError(f"not a writable column of executions: {name!r}")
            if name == "result":
                assignments.append("result = %s::jsonb")
                params.append(_jsonb(value))
            else:
                assignments.append(f"{name} = %s")
                params.append(value)
        where = f"WHERE id = %s AND status NOT IN {_FINISHED_SQL}"
        update = f" UPDATE executions SET {', '.join(assignments)} {where}"  # noqa: S608 - names: _EXECUTION_COLUMNS
        statement.append(f", execution AS ({update}" if fenced else update)
        params.append(w.execution_id)
        if w.status == ExecutionStatus.RUNNING:  # a running walk's checkpoints: no new row version per batch
            statement.append(" AND status <> 'running'")
        if not fenced:
            return execute("".join(statement), params)[1]
        statement.append(_FENCED_TAIL)
        fence, changed = (execute("".join(statement), params)[0] or [(0, 0)])[0]
        if not fence:
            raise LeaseLost(w.execution_id)
        return int(changed)

    def lease_acquire(self, execution_id: str, owner: str, seconds: float) -> int | None:
        rows, _ = execute(_ACQUIRE_SQL, [owner, seconds, execution_id])
        if rows:
            return int(rows[0][0])
        return None if Execution.objects.filter(pk=execution_id).exists() else 0

    def lease_renew(self, held: dict[str, int], seconds: float) -> set[str]:
        ids = list(held)
        rows, _ = execute(_RENEW_SQL, [seconds, ids, [held[i] for i in ids]])
        return {str(row[0]) for row in rows or []}

    def lease_release(self, execution_id: str, epoch: int) -> None:
        execute(_RELEASE_SQL, [execution_id, epoch])

    def is_locked_elsewhere(self, execution_id: str) -> bool:
        return bool(execute(_HELD_SQL, [execution_id], repeatable=True)[0])

    def lease_fence(self, execution_id: str, epoch: int) -> bool:
        with connection.cursor() as cursor:  # FOR SHARE: a takeover (an UPDATE of the row) waits for our commit
            cursor.execute(_LEASE_FENCE_SQL, [execution_id, epoch])
            return cursor.fetchone() is not None

    def timer_get(self, timer_id: int) -> ExecutionTimer | None:
        return _timer(execute(_GET_SQL, [timer_id], repeatable=True)[0])

    def timer_fire(self, timer_id: int, now: datetime) -> ExecutionTimer | None:
        fired, scheduled = TimerStatus.FIRED.value, TimerStatus.SCHEDULED.value
        return _timer(execute(_FIRE_SQL, [fired, now, now, timer_id, scheduled, now])[0])


@functools.cache
def queries() -> Queries:
    """The implementation for this process's database, chosen at the first call."""
    return PostgresQueries() if connection.vendor == "postgresql" else Queries()
