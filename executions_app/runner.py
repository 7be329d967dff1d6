"""The worker's entry point for one message: `execution_run`.

What the Celery task calls: fire the timer that woke us (once), take the execution's lock, and let
the engine's walker continue from the checkpoint through the PostgreSQL store (`store.py`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.utils import timezone

from config.logging import log_context
from credentials_app.resolver import OwnerCredentialResolver
from engine.http.policy import OutboundPolicy
from engine.nodes import NodeServices
from engine.policies import NO_POLICY, execution_policy
from engine.store import ExecutionSnapshot
from engine.walker import walk
from schemas_app.models import Schema
from variables_app.selectors import LazyEnv

from . import metrics
from .admission import admission_admit
from .dispatch import publish_execution
from .locks import LeaseLost, execution_lock
from .models import ExecutionState, ExecutionStatus, ExecutionTimer, TimerStatus
from .policies import TIMEOUT_REASON, execution_timeout, policies_after_walk, timeout_schedule
from .store import DjangoExecutionStore
from .subflows import CHILD_TIMER_REASON, child_wakeups_pending, child_wakeups_taken
from .timers import RESUME_TIMER_REASON, timer_fire, timer_get
from .tracing import traced_node_types

logger = logging.getLogger("schema.engine")
BUSY_REPUBLISH_LIMIT = 5
TIMER_ALREADY_HANDLED = "timer-already-handled"
WAITS_FOR_SLOT = (ExecutionStatus.PENDING, ExecutionStatus.PAUSED)  # what admission decides on


def _eager() -> bool:
    return bool(current_app.conf.task_always_eager)


def node_services(schema_id: Any = None) -> NodeServices:
    """What nodes of this schema's executions may use: the outbound policy, the credentials and the
    variables (`env`) of the schema's owner (the owner is read only when a node first needs them)."""

    owner: list[Any] = []  # one read per walk, shared by credentials and env (functools.cache costs more)

    def owner_id() -> Any:
        if not owner:
            owner.append(Schema.objects.filter(pk=schema_id).values_list("created_by_id", flat=True).first())
        return owner[0]

    return NodeServices(
        outbound_policy=OutboundPolicy(list(settings.SCHEMA_HTTP_ALLOWLIST)),
        credentials=OwnerCredentialResolver(owner_id),
        env=LazyEnv(owner_id),
        logger_name="schema.nodes",
    )


def _wake_up_unfinished(execution_id: str, timer: ExecutionTimer) -> bool:
    """True when the execution still waits for the pause this timer ended: its wake-up was taken
    (the timer is fired) but no checkpoint after it was committed. Checked under the execution's
    lock, so no walk is in progress; any committed step after the wake-up clears `resume_at`. A
    resume is always walked again: the walk re-reads the recorded resumes (idempotent). A finished
    child's wake-up is fired only once a checkpoint written after a read of the children's progress
    committed (`execution_run`, `DjangoExecutionStore.children_progress`): fired, it is done."""
    if timer.reason == RESUME_TIMER_REASON:
        return True
    if timer.reason == CHILD_TIMER_REASON:
        return False
    return ExecutionState.objects.filter(
        execution_id=execution_id, execution__status=ExecutionStatus.PAUSED, resume_at=timer.due_at
    ).exists()


def _timer_already_handled(timer_id: int, status: str) -> str:
    """A wake-up message whose timer needs nothing more (a repeat, or the pause was cancelled)."""
    logger.info("wake-up message dropped: timer-already-handled (%s)", status, extra={"timer_id": timer_id})
    return TIMER_ALREADY_HANDLED


def execution_run(
    execution_id: str, *, timer_id: int | None = None, worker_id: str = "worker", busy_retries: int = 0
) -> str:
    """Continue one execution; returns what happened (for logs and tests).

    A finished child's wake-up that finds its parent being walked is not sent back to the broker: the
    walk holding the lock reads the children's progress again before it pauses, and after a walk
    that paused this worker looks for wake-ups that came in meanwhile (their rows stay scheduled
    until a walk took them) and walks again while there are some. So each batch of ended children
    costs one walk of the parent, and none waits out a retry's back-off."""
    outcome = _run_once(execution_id, timer_id=timer_id, worker_id=worker_id, busy_retries=busy_retries)
    # A repeated wake-up too: the redelivered message of a walk whose worker died after its last
    # write, before it looked for wake-ups left (sent no message: a walk held the parent then).
    while outcome == "paused" or (outcome == TIMER_ALREADY_HANDLED and timer_id is not None):
        # After the lock was let go: a wake-up whose message found it held is seen here (its row
        # committed before that message was sent). Busy now: that walk's worker looks the same way.
        left = child_wakeups_pending(execution_id)
        if not left:
            break
        outcome = _run_once(execution_id, timer_id=None, worker_id=worker_id, busy_retries=0, wakeups=left)
    return outcome


def _run_once(
    execution_id: str,
    *,
    timer_id: int | None,
    worker_id: str,
    busy_retries: int,
    wakeups: list[int] | None = None,
) -> str:
    """One take of the lock and one walk (see `execution_run`); `wakeups`: the `child` wake-ups
    left after an earlier walk, which this one is for (fired after it, like a message's own)."""
    timer: ExecutionTimer | None = None
    if timer_id is not None:
        timer = timer_get(timer_id)
        if timer is None or timer.status == TimerStatus.CANCELLED:
            return _timer_already_handled(timer_id, "cancelled" if timer else "deleted")
        if str(timer.execution_id) != execution_id:  # after a restore, timer ids are handed out again
            return _timer_already_handled(timer_id, "of another execution")
        if timer.status == TimerStatus.FIRED and not _wake_up_unfinished(execution_id, timer):
            return _timer_already_handled(timer_id, "fired")
        if timer.status == TimerStatus.SCHEDULED and timer.due_at > timezone.now() + timedelta(milliseconds=5):
            if not _eager():  # arrived early: wait in the broker again (eagerly it would recurse)
                publish_execution(execution_id, eta=timer.due_at, timer_id=timer_id)
                logger.info(
                    "wake-up message early: back to the broker until %s",
                    timer.due_at.isoformat(),
                    extra={"timer_id": timer_id},
                )
            return "timer-not-due"
        if timer.reason == TIMEOUT_REASON:  # the schema's timeout_seconds: not a wake-up
            return execution_timeout(execution_id, timer, worker_id)
    child_wakeup = timer is not None and timer.reason == CHILD_TIMER_REASON
    if child_wakeup and timer_id is not None:
        wakeups = [timer_id]
    with execution_lock(execution_id, worker_id) as owned:
        if not owned:
            if wakeups:
                logger.info(
                    "execution busy: the walk holding its lock takes this wake-up (it reads the children's"
                    " progress again before it pauses; its worker looks for wake-ups left once it let go)"
                )
                return "busy"
            if busy_retries < BUSY_REPUBLISH_LIMIT and not _eager():
                publish_execution(
                    execution_id,
                    timer_id=timer_id,
                    busy_retries=busy_retries + 1,
                    countdown=1 + busy_retries,
                    wake_up=True,
                )
                logger.info(
                    "execution busy: another walk holds its lock; this message comes back in %d s",
                    1 + busy_retries,
                    extra={"busy_retries": busy_retries + 1},
                )
            else:
                logger.info("execution busy: another walk holds its lock; this message is dropped")
            return "busy"
        if timer_id is not None and not child_wakeup:  # a child's wake-up is fired after the walk
            fired = timer_fire(timer_id)
            if fired is not None:
                metrics.TIMER_LATENESS.labels(fired.reason).observe((fired.lateness_ms or 0) / 1000)
            elif timer is None or not _wake_up_unfinished(execution_id, timer):
                return _timer_already_handled(timer_id, "fired")
            # else: the timer fired, but the walk it started died before its next checkpoint (the
            # worker was killed, the database went away): this redelivered or retried message
            # finishes the wake-up. Dropping it left the execution paused forever.
        store = DjangoExecutionStore(worker_id)
        snapshot = store.prefetch(execution_id)
        if snapshot is None:
            logger.warning("execution %s does not exist (deleted?); message dropped", execution_id)
            return "missing"
        schema_id, trigger_type = store.meta(execution_id)
        with log_context(schema_id=schema_id):
            try:
                outcome = _walk_owned(store, snapshot, schema_id, trigger_type)
            except LeaseLost:  # frozen or cut off past the lease: another worker owns it now
                logger.warning("execution taken over by another worker; this walk wrote nothing more and stops")
                return "lease-lost"
        if wakeups:
            # The walk read the progress (and its checkpoint committed) or had nothing to read (the
            # node went on, the execution ended): these wake-ups are done, unless it took them already.
            for seconds in child_wakeups_taken(wakeups):
                metrics.TIMER_LATENESS.labels(CHILD_TIMER_REASON).observe(seconds)
        return outcome


def _walk_owned(store: DjangoExecutionStore, snapshot: ExecutionSnapshot, schema_id: str, trigger_type: str) -> str:
    """Under the execution's lease: admission, the timeout, the walk and what the policies do after
    it. Every write here is fenced by the lease (`LeaseLost` once another worker took it over)."""
    execution_id = snapshot.execution_id
    policy = execution_policy(snapshot.definition)  # NO_POLICY (nothing to do) without settings
    if policy.limited and snapshot.status in WAITS_FOR_SLOT:
        if not admission_admit(execution_id, schema_id, policy):
            return "queued"  # the execution that frees a slot publishes it again
        store.prefetch(execution_id)  # admitted: read again (it starts now; it may have been cancelled)
    if store.started(execution_id):
        timeout_schedule(execution_id, policy)
        metrics.EXECUTIONS_STARTED.labels(trigger_type).inc()
        logger.info("execution started", extra={"trigger_type": trigger_type})
    outcome = walk(
        store,
        execution_id,
        services=node_services(schema_id),
        node_types=traced_node_types(),
        branch_concurrency=settings.SCHEMA_BRANCH_CONCURRENCY,
    )
    if outcome.status == "running":  # step budget used up: continue in a fresh message
        publish_execution(execution_id, wake_up=True)
    elif policy is not NO_POLICY:
        policies_after_walk(execution_id, schema_id, policy, outcome.status)
    return outcome.status
