"""Execution services: creating executions from triggers and the operator actions on them.

Creation writes the execution, its initial state and pins the schema version in one transaction,
then publishes the run message on commit (docs/contracts.md). On PostgreSQL that
transaction is one statement (a data-modifying CTE inserting both rows), the hot path of every
webhook; elsewhere (SQLite for `make run`) it is the ORM's two inserts in `transaction.atomic()`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from amqp.exceptions import AMQPError
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from kombu.exceptions import KombuError

from accounts.models import User
from engine.control import prepare_retry, resume_target
from engine.errors import InvalidTransition
from engine.policies import NO_POLICY, ExecutionPolicy, call_priority, concurrency_key, execution_policy
from engine.store import ExecutionSnapshot, current_node_id
from schemas_app.models import Schema, SchemaStatus, SchemaVersion
from schemas_app.schedules import schedule_remove, schedule_trigger_config
from schemas_app.services import SchemaStateError

from .admission import admission_release_for
from .dispatch import publish_execution
from .immutable_cache import ImmutableRowCache
from .models import (
    FINISHED_STATUSES,
    Execution,
    ExecutionActionKey,
    ExecutionState,
    ExecutionStatus,
    TriggerType,
)
from .pausing import PAUSED_REASON, SchemaPaused, held
from .sql import queries
from .subflows import children_cancel, parent_wake
from .timers import RESUME_TIMER_REASON, resumes_recorded, timer_schedule, timers_cancel

logger = logging.getLogger("schema.executions")
# What publishing raises when the broker is down, unreachable or refuses the message (kombu wraps
# connection errors in its OperationalError; a negative publisher confirm is an AMQPError).
BROKER_ERRORS: tuple[type[BaseException], ...] = (KombuError, AMQPError, OSError)


def execution_publish(execution: Execution, *, wake_up: bool = False) -> bool:
    """Publishes the message that runs a committed execution (`wake_up`: one that continues it, e.g.
    after a resume, taken ahead of new starts). True when the broker took it.

    An execution held for its paused schema is not published (resuming publishes it).
    The execution is already committed, so a broker that is down does not fail the request that
    created it (the caller answers 2xx, a retrying sender does not start it twice): the failure is
    logged and a new execution handed over to the outbox relay (executions_app/outbox.py), which
    publishes it when it can; the reconciler stays the last net.
    """
    if execution.queued_reason == PAUSED_REASON:
        return True
    try:
        publish_execution(
            str(execution.id), request_id=execution.request_id, wake_up=wake_up, priority=execution.priority
        )
    except BROKER_ERRORS as exc:
        logger.warning(
            "could not publish the execution (%s: %s); the outbox relay publishes it once the broker "
            "takes it (the reconciler within about %d s)",
            type(exc).__name__,
            exc,
            settings.SCHEMA_RECONCILE_GRACE_SECONDS + settings.SCHEMA_RECONCILE_INTERVAL_SECONDS,
            extra={"execution_id": str(execution.id), "schema_id": str(execution.schema_id)},
        )
        if not wake_up:
            _hand_over(str(execution.id))
        return False
    return True


def _hand_over(execution_id: str) -> None:
    """Tells the outbox relay (executions_app/outbox.py) at once that this publish failed."""
    try:
        queries().outbox_hand_over(execution_id)
    except DatabaseError as exc:  # the database is down too: the relay's scan and the reconciler remain
        logger.warning("could not hand the execution over to the outbox relay: %s", exc)


def _publish_on_commit(execution: Execution, *, wake_up: bool = False) -> None:
    transaction.on_commit(lambda: execution_publish(execution, wake_up=wake_up))


# The current version of each schema a trigger has started, for the next trigger: the version row's
# id and the definition's `variables` (the execution's initial context), not the whole definition.
_PINNED: ImmutableRowCache[tuple[Any, int], tuple[int, dict[str, Any], ExecutionPolicy]] = ImmutableRowCache(
    8 * 1024 * 1024, lambda pinned: 200 + 8 * len(json.dumps(pinned[1], default=str))
)


def _pinned_version(schema: Schema) -> tuple[SchemaVersion, dict[str, Any], ExecutionPolicy]:
    """The schema's current version (a new instance with only id, schema and number loaded), its
    variables and its policy. Versions are immutable rows (an edit makes a new one), so a process
    keeps what it has read: one query fewer per trigger (measured on the webhook path)."""

    def load() -> tuple[int, dict[str, Any], ExecutionPolicy]:
        version_id, variables, settings_ = (
            SchemaVersion.objects.filter(schema=schema, version=schema.version)
            .values_list("id", "definition__variables", "definition__settings")
            .get()
        )
        policy = execution_policy({"settings": settings_}) if settings_ else NO_POLICY
        return version_id, variables if isinstance(variables, dict) else {}, policy

    version_id, variables, policy = _PINNED.get((schema.pk, schema.version), load)
    fields = [version_id, schema.pk, schema.version]
    return SchemaVersion.from_db(connection.alias, ["id", "schema_id", "version"], fields), variables, policy


def execution_create(
    *,
    schema: Schema,
    trigger_type: TriggerType | str,
    payload: Any = None,
    created_by: User | None = None,
    idempotency_key: str | None = None,
    request_id: str = "",
    version: SchemaVersion | None = None,
    rerun_of: Execution | None = None,
    error_of: Execution | None = None,
    publish: bool = True,
    refuse_when_paused: bool = False,
    priority: Any = None,
    parent_link: tuple[str, str, str] | None = None,
) -> tuple[Execution, bool]:
    """Create and enqueue an execution. Returns `(execution, created)`; with an idempotency key
    already used for this schema, the first execution is returned and nothing new is created.
    `publish=False`: the caller publishes a created execution itself (`execution_publish`), e.g. the
    webhook after its answer is sent. `error_of`: the failed execution an error schema handles.
    While the schema is paused the execution is held (not published) unless it is a sub-schema run;
    `refuse_when_paused` (webhook and manual calls): raise `SchemaPaused` when the schema says so.
    `priority`: the call's own (0-9; ValueError, in plain words, when outside the schema's limits).
    `parent_link`: (parent execution id, node id, parent key) of a sub-schema run, written by the insert."""
    if version is None:
        pinned, pinned_variables, policy = _pinned_version(schema)
    else:
        pinned, pinned_variables = version, version.definition.get("variables") or {}
        policy = execution_policy(version.definition)
    fields = {
        "schema": schema,
        "schema_version": pinned,
        "trigger_type": trigger_type,
        "trigger_payload": payload,
        "created_by": created_by,
        "idempotency_key": idempotency_key or None,
        "request_id": request_id,
        "rerun_of": rerun_of,
        "error_of": error_of,
        "priority": call_priority(policy, priority),
    }
    if parent_link is not None:
        fields.update(zip(("parent_execution_id", "parent_node_id", "parent_key"), parent_link, strict=True))
    if policy.limited:  # counted under its key from the start: FIFO among all of the key's waiters
        fields["concurrency_key"] = concurrency_key(policy, payload, pinned_variables)
    if held(schema) and trigger_type != TriggerType.SUBFLOW:  # a running execution's sub-schemas go on
        if refuse_when_paused and policy.when_paused == "refuse":
            raise SchemaPaused("The schema is paused: it starts no new executions until it is resumed.")
        fields["queued_reason"] = PAUSED_REASON
    execution = Execution(**fields)
    state = ExecutionState(execution=execution, context=dict(pinned_variables))
    if not queries().execution_insert(execution, state):  # the idempotency key was used before
        return Execution.objects.get(schema=schema, idempotency_key=idempotency_key), False
    if publish:
        _publish_on_commit(execution)
    return execution, True


class ExecutionStateError(Exception):
    """The action does not fit the execution's current status (→ 409)."""


class IdempotencyKeyReused(Exception):
    """The action's `Idempotency-Key` was used before for a different request (→ 409)."""


def _action_key_claim(execution: Execution, key: str | None, request: dict[str, Any]) -> bool:
    """Records `key` for this action on `execution` (locked by the caller); False when the same
    request was done before under it (the caller answers again and does nothing), IdempotencyKeyReused
    when the key was used for another execution or another request. The key is recorded in the
    action's transaction: an action refused (409) or rolled back leaves the key unused."""
    if key is None:
        return True
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
    prior = ExecutionActionKey.objects.filter(key=key).first()
    if prior is None:
        try:
            with transaction.atomic():  # a savepoint: the same key inserted meanwhile for another execution
                ExecutionActionKey.objects.create(execution=execution, key=key, request_sha256=digest)
            return True
        except IntegrityError:
            prior = ExecutionActionKey.objects.get(key=key)
    if prior.execution_id != execution.pk or prior.request_sha256 != digest:
        raise IdempotencyKeyReused(key)
    return False


def _locked(execution: Execution) -> Execution:
    return (
        Execution.objects.select_for_update(of=("self",)).select_related("state", "schema_version").get(pk=execution.pk)
    )


def _snapshot(execution: Execution) -> ExecutionSnapshot:
    return ExecutionSnapshot(
        execution_id=str(execution.id),
        status=execution.status,
        definition=execution.schema_version.definition,
        trigger_payload=execution.trigger_payload,
        checkpoint=dict(execution.state.checkpoint),
    )


def _continue_with(execution: Execution, checkpoint: dict[str, Any], status: str = ExecutionStatus.PENDING) -> None:
    ExecutionState.objects.filter(execution=execution).update(
        checkpoint=checkpoint,
        current_node_id=current_node_id(checkpoint),
        wait_kind="",
        resume_at=None,
        updated_at=timezone.now(),
    )
    Execution.objects.filter(pk=execution.pk).update(status=status, finished_at=None, error=None)
    _publish_on_commit(execution, wake_up=True)


@transaction.atomic
def execution_cancel(execution: Execution) -> Execution:
    """Cancel: a pending or paused execution stops at once (its timers are dropped and it never
    resumes); a running one stops before its next step."""
    execution = _locked(execution)
    if execution.is_finished:
        raise ExecutionStateError(f"The execution is already {execution.status}.")
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.CANCELLED, finished_at=timezone.now())
    timers_cancel(execution)
    children_cancel(execution)  # sub-schemas it started stop too
    parent_wake(str(execution.pk))  # a cancelled sub-schema: its parent's node fails (or goes on)
    ExecutionState.objects.filter(execution=execution).update(wait_kind="", resume_at=None, updated_at=timezone.now())
    admission_release_for(execution)  # its concurrency slot goes to the oldest waiter
    return execution


@transaction.atomic
def execution_resume(
    execution: Execution, *, payload: Any = None, node_id: str | None = None, idempotency_key: str | None = None
) -> Execution:
    """Resume a `wait` node of an unfinished execution (`node_id` picks one when several branches
    wait); the payload becomes the node's output. Also while other branches run: the resume is
    recorded as a `resume` wake-up (timer row due now, carrying the payload; its message; the
    reconciler) and applied by the walk that owns the checkpoint — when it starts, or before it
    pauses if it is running now. A paused execution becomes pending (about to continue).
    With an `idempotency_key` used before for the same resume: nothing more (no second node resumed)."""
    execution = _locked(execution)
    if not _action_key_claim(execution, idempotency_key, {"payload": payload, "node_id": node_id}):
        return execution
    try:
        target = resume_target(_snapshot(execution), node_id, resumes_recorded(execution.pk))
    except InvalidTransition as exc:
        raise ExecutionStateError(str(exc)) from exc
    timer_schedule(
        execution=execution,
        due_at=timezone.now(),
        reason=RESUME_TIMER_REASON,
        node_id=target,
        payload=payload if payload is not None else {},
    )
    if execution.status == ExecutionStatus.PAUSED:
        Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.PENDING)
        ExecutionState.objects.filter(execution=execution).update(
            wait_kind="", resume_at=None, updated_at=timezone.now()
        )
    return execution


@transaction.atomic
def execution_retry(execution: Execution, *, idempotency_key: str | None = None) -> Execution:
    """Run the failed node again (next attempt) and continue from there. With an `idempotency_key`
    used before to retry this execution: nothing more (no second attempt when that one failed too)."""
    execution = _locked(execution)
    if not _action_key_claim(execution, idempotency_key, {}):
        return execution
    try:
        checkpoint = prepare_retry(_snapshot(execution))
    except InvalidTransition as exc:
        raise ExecutionStateError(str(exc)) from exc
    _continue_with(execution, checkpoint)
    return execution


def execution_rerun(
    execution: Execution,
    *,
    use_current: bool = False,
    created_by: User | None = None,
    request_id: str = "",
    idempotency_key: str | None = None,
) -> Execution:
    """A new execution with the same trigger payload, on the pinned or the current version (with an
    idempotency key used before: the execution it started)."""
    version = None if use_current else execution.schema_version
    rerun, _ = execution_create(
        schema=execution.schema,
        trigger_type=execution.trigger_type,
        payload=execution.trigger_payload,
        created_by=created_by,
        idempotency_key=idempotency_key,
        request_id=request_id,
        version=version,
        rerun_of=execution,
    )
    return rerun


def execution_from_schedule(schema_id: str, *, tick: str | None = None) -> Execution | None:
    """A cron tick: start the schema if it is (still) active and (still) schedule-triggered; a stale
    tick from beat for an edited schema must not start it. One execution per `tick` (the cron time
    beat fires, config/beat_scheduler.py): a tick sent twice — two beats across a takeover — starts
    one execution (its idempotency key `schedule:<tick>`)."""
    schema = Schema.objects.filter(pk=schema_id, status=SchemaStatus.ACTIVE).first()
    if schema is None or schedule_trigger_config(schema.definition) is None:
        return None
    if held(schema):  # a paused schema skips its ticks (they are not made up after the resume)
        logger.info("schedule tick skipped: the schema is paused", extra={"schema_id": schema_id})
        return None
    execution, created = execution_create(
        schema=schema,
        trigger_type=TriggerType.SCHEDULER,
        payload={"scheduled_at": tick or timezone.now().isoformat()},
        idempotency_key=f"schedule:{tick}" if tick else None,
    )
    if not created:
        logger.warning(
            "cron tick %s fired before: no second execution", tick, extra={"execution_id": str(execution.id)}
        )
    return execution


@transaction.atomic
def schema_delete(schema: Schema) -> None:
    """Deletes the schema with its versions and its finished executions. Executions still pending,
    running or paused would be cut off mid-way (and their rows pin a version): refused. (Here, not in
    schemas_app: schemas do not know executions.)"""
    schema = Schema.objects.select_for_update().get(pk=schema.pk)
    executions = Execution.objects.filter(schema=schema)
    if executions.exclude(status__in=FINISHED_STATUSES).exists():
        raise SchemaStateError(
            "The schema has executions that are not finished; cancel them (or wait for them) before deleting it."
        )
    executions.delete()
    schedule_remove(schema)
    schema.delete()
