"""Admission: a schema's `max_concurrency`, enforced in PostgreSQL for every worker and API process.

An execution of a limited schema carries its `concurrency_key` (computed when it is created; "" for
one limit for the whole schema). Before a walk, the worker asks `admission_admit`: the execution
takes one of the key's slots (`slot_held`) when fewer than `max_concurrency` executions hold one and
no execution of the key waits ahead of it (higher priority, or the same and older: FIFO). Otherwise
it stays as it is (pending, or paused past its wake-up) with `queued_reason` ("queued: 5 running,
limit 5") and no message anywhere: whoever frees a slot — a walk that ends or pauses
(`admission_release`), a cancel, a timeout — hands it to the next waiter in the same transaction
and publishes that one after commit. The reconciler (`admission_reconcile`) repairs a hand-over
whose message was lost.

Holding a slot is `slot_held` on an unfinished execution: finishing frees it without another write,
so a worker dying after the final checkpoint leaks nothing. A running execution whose worker died
keeps its slot: its redelivered message continues it. Every decision runs under a transaction-level
advisory lock per (schema, key), so two processes never count the same free slot.
Executions of schemas without a limit never come here (`concurrency_key` is NULL).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import DateTimeField, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from engine.policies import ExecutionPolicy, execution_policy

from . import metrics
from .dispatch import publish_execution
from .locks import lease_fence
from .models import Execution, ExecutionStatus, SchemaVersion
from .pausing import PAUSED_REASON

logger = logging.getLogger("schema.executions")
UNFINISHED = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)
# Waiting for a slot: pending (never admitted, or resumed), or paused past its wake-up with a reason.
# Not one held for its paused schema (pausing.py): the resume releases it.
_WAITING = (Q(status=ExecutionStatus.PENDING) & ~Q(queued_reason=PAUSED_REASON)) | (
    Q(status=ExecutionStatus.PAUSED) & ~Q(queued_reason="")
)


def _serialize(schema_id: Any, key: str) -> None:
    """Only one admission decision per (schema, key) at a time, until the transaction ends."""
    if connection.vendor != "postgresql":  # SQLite (make run) serializes writers itself
        return
    digest = hashlib.blake2b(f"slots:{schema_id}:{key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s::bigint)", [int.from_bytes(digest, "big", signed=True)])


def _started_at(now: datetime) -> Coalesce:
    """An execution of a limited schema starts when it gets its slot (under the key's lock, so the
    start times are in FIFO order whichever worker walks it first); one started before keeps its time."""
    return Coalesce("started_at", Value(now, output_field=DateTimeField()))


def _key_rows(schema_id: Any, key: str) -> Any:
    return Execution.objects.filter(schema_id=schema_id, concurrency_key=key, status__in=UNFINISHED)


def slots_taken(schema_id: Any, key: str) -> int:
    return _key_rows(schema_id, key).filter(slot_held=True).count()


def _count_waiting(schema_id: Any) -> None:
    """The schema's `schema_executions_waiting` gauge (every key), after a queue or hand-over."""
    waiting = (
        Execution.objects.filter(
            schema_id=schema_id, concurrency_key__isnull=False, status__in=UNFINISHED, slot_held=False
        )
        .exclude(queued_reason="")
        .exclude(queued_reason=PAUSED_REASON)
        .count()
    )
    metrics.EXECUTIONS_WAITING.labels(str(schema_id)).set(waiting)


def queued_reason(taken: int, limit: int, key: str, ahead: int = 0) -> str:
    """The reason shown, e.g. "queued: 5 running, limit 5"; with older executions still waiting for
    their slot (FIFO), how many: "queued: 1 running, limit 3, 2 waiting ahead"."""
    reason = f"queued: {taken} running, limit {limit}"
    if taken < limit and ahead:
        reason = f"{reason}, {ahead} waiting ahead"
    return f"{reason} (key {key!r})" if key else reason


def admission_admit(execution_id: str, schema_id: Any, policy: ExecutionPolicy) -> bool:
    """True when the execution may walk now (it holds a slot); False: it was queued (its reason set)."""
    limit = policy.max_concurrency
    if limit is None:
        return True
    with transaction.atomic():
        row = (
            Execution.objects.filter(pk=execution_id)
            .values_list("concurrency_key", "slot_held", "created_at", "priority")
            .first()
        )
        if row is None or row[1]:
            return True
        key, _, created_at, priority = row
        if key is None:  # created before its version had a limit (cannot happen for new rows): schema-wide
            key = ""
        _serialize(schema_id, key)
        lease_fence(execution_id)  # after the key's lock (its order everywhere): a lost walk takes no slot
        taken = slots_taken(schema_id, key)
        # Ahead of it: higher priority, or the same and older (FIFO).
        same = Q(priority=priority) & (Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=execution_id))
        older = Q(priority__gt=priority) | same
        ahead = _key_rows(schema_id, key).filter(_WAITING, older, slot_held=False).count()
        if taken + ahead < limit:
            # The older waiters (still on their way to a worker) get their slots first and earlier start
            # times, so the start order is the FIFO order even when this message overtook theirs.
            now = timezone.now()
            admitted = _give_slots(schema_id, key, ahead, now) if ahead else []
            Execution.objects.filter(pk=execution_id).update(
                slot_held=True,
                queued_reason="",
                concurrency_key=key,
                started_at=_started_at(now + timedelta(microseconds=ahead)),
            )
            if taken + ahead + 1 < limit:  # younger waiters queued behind this one while it was not yet taken
                later = now + timedelta(microseconds=ahead + 1)
                admitted += _give_slots(schema_id, key, limit - taken - ahead - 1, later)
            if admitted:
                _count_waiting(schema_id)
                transaction.on_commit(lambda: _publish(admitted))
            return True
        reason = queued_reason(taken, limit, key, ahead)
        updated = Execution.objects.filter(pk=execution_id).exclude(queued_reason=reason)
        if updated.update(queued_reason=reason, concurrency_key=key):
            metrics.EXECUTIONS_QUEUED.inc()
            _count_waiting(schema_id)
    logger.info("execution queued: %s", reason, extra={"execution_id": execution_id, "queued_ahead": ahead})
    return False


def _hand_over(schema_id: Any, key: str, limit: int) -> list[tuple[str, bool, str, int]]:
    """Within the caller's transaction and lock: give the free slots to the oldest waiters; returns
    (id, started before, request id, priority) of each, to publish after commit. Highest priority
    first, then FIFO."""
    free = limit - slots_taken(schema_id, key)
    if free <= 0:
        return []
    admitted = _give_slots(schema_id, key, free, timezone.now())
    _count_waiting(schema_id)
    return admitted


def _give_slots(schema_id: Any, key: str, free: int, now: datetime) -> list[tuple[str, bool, str, int]]:
    waiters = list(
        _key_rows(schema_id, key)
        .filter(_WAITING, slot_held=False)
        .order_by("-priority", "created_at", "id")
        .values_list("id", "started_at", "request_id", "created_at", "priority")[:free]
    )
    if not waiters:
        return []
    for index, waiter in enumerate(waiters):  # 1 µs apart: the start order is the FIFO order, no ties
        admitted_at = now + timedelta(microseconds=index)
        Execution.objects.filter(pk=waiter[0]).update(
            slot_held=True, queued_reason="", started_at=_started_at(admitted_at)
        )
        metrics.QUEUED_SECONDS.observe(max(0.0, (now - waiter[3]).total_seconds()))
    return [(str(w[0]), w[1] is not None, w[2], w[4]) for w in waiters]


def _publish(admitted: list[tuple[str, bool, str, int]]) -> None:
    for execution_id, started, request_id, priority in admitted:
        try:
            publish_execution(execution_id, request_id=request_id, wake_up=started, priority=priority)
        except Exception as exc:  # noqa: BLE001 - a broker error: the reconciler publishes it later
            logger.warning("could not publish an admitted execution (%s); the reconciler will", exc)


def admission_release(execution_id: str, schema_id: Any, policy: ExecutionPolicy, *, paused: bool = False) -> int:
    """After a walk of a limited execution ended (or paused: its slot is given back unless
    `hold_slot_while_paused`): hand the free slots to the oldest waiters. Returns how many started."""
    if policy.max_concurrency is None or (paused and policy.hold_slot_while_paused):
        return 0
    key = Execution.objects.filter(pk=execution_id).values_list("concurrency_key", flat=True).first()
    if key is None:
        return 0
    with transaction.atomic():
        _serialize(schema_id, key)
        if paused:  # a lost walk frees nothing (a finished one's hand-over is anyone's: it counts afresh)
            lease_fence(execution_id)
            Execution.objects.filter(pk=execution_id, status=ExecutionStatus.PAUSED).update(slot_held=False)
        admitted = _hand_over(schema_id, key, policy.max_concurrency)
        transaction.on_commit(lambda: _publish(admitted))
    return len(admitted)


def admission_release_for(execution: Execution) -> int:
    """The same for an execution that stopped outside a walk (cancelled, timed out)."""
    if execution.concurrency_key is None:
        return 0
    definition = SchemaVersion.objects.values_list("definition", flat=True).get(pk=execution.schema_version_id)
    return admission_release(str(execution.pk), execution.schema_id, execution_policy(definition))


def admission_reconcile() -> int:
    """Periodic repair: slots handed over whose message was lost are re-published by the reconciler
    (they are pending); this gives free slots to waiters when a hand-over never happened (a worker
    died between its last checkpoint and `admission_release`) and takes back the slot of an
    execution that paused and died before giving it back. Returns how many were started."""
    started = 0
    groups = (
        Execution.objects.filter(concurrency_key__isnull=False, status__in=UNFINISHED)
        .filter(Q(slot_held=False, queued_reason__gt="") | Q(slot_held=True, status=ExecutionStatus.PAUSED))
        .values_list("schema_id", "concurrency_key", "schema_version_id")
        .distinct()
    )
    policies: dict[int, ExecutionPolicy] = {}
    done: set[tuple[Any, str]] = set()
    for schema_id, found_key, version_id in groups[:500]:
        key = found_key or ""
        if version_id not in policies:
            definition = SchemaVersion.objects.values_list("definition", flat=True).get(pk=version_id)
            policies[version_id] = execution_policy(definition)
        policy = policies[version_id]
        if policy.max_concurrency is None:
            continue
        with transaction.atomic():
            _serialize(schema_id, key)
            if not policy.hold_slot_while_paused:
                Execution.objects.filter(
                    schema_id=schema_id,
                    concurrency_key=key,
                    schema_version_id=version_id,
                    status=ExecutionStatus.PAUSED,
                    slot_held=True,
                    queued_reason="",
                ).filter(  # not one woken and about to walk
                    Q(state__resume_at__isnull=True) | Q(state__resume_at__gt=timezone.now())
                ).update(slot_held=False)
            if (schema_id, key) in done:
                continue
            done.add((schema_id, key))
            admitted = _hand_over(schema_id, key, policy.max_concurrency)
            transaction.on_commit(lambda admitted=admitted: _publish(admitted))  # type: ignore[misc]
            started += len(admitted)
    return started
