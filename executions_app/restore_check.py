"""After a database restore: what the broker and the database disagree on, and what is waiting.

A restored database is a moment in the past; RabbitMQ is not restored with it. `restore_check`
(`manage.py restore_check`) reports
- messages in the broker (the run queues, Celery's delay queues, the DLQ) for executions the
  database does not know — executions created after the backup, whose rows are gone — and wake-ups
  naming a timer that does not exist or belongs to another execution (timer ids are handed out
  again after a restore; the worker drops such a message, `runner.py`);
- timers overdue (scheduled, due in the past): the reconciler fires them once beat runs;
- executions stuck: `pending` or `running` with no walk for longer than the reconciler's grace
  period, and `paused` past their wake-up time with no timer left (the reconciler re-publishes
  them too);
- the newest moment the database knows of (the backup's point in time: work after it is lost).

Reading the broker does not consume anything. Messages of the run queues (new executions, wake-ups)
are republished unchanged and the copy taken is acknowledged (a message merely returned would count
as a delivery towards the quorum queue's delivery limit, so three checks would dead-letter it);
messages of the delay queues and the DLQ are returned (no delivery limit; their delay keeps running).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from kombu import Connection, Producer, Queue

from config.queues import (
    CELERY_DELAY_BITS,
    DLQ,
    MS_DELAY_BITS,
    RUN_QUEUES,
    TASK_RUN_EXECUTION,
    execution_exchange,
    ms_delay_level_name,
)

from .locks import is_locked_elsewhere
from .models import Execution, ExecutionState, ExecutionStatus, ExecutionStep, ExecutionTimer, TimerStatus

# kombu's native delayed delivery (whole seconds), then our millisecond ladder (config/queues.py).
DELAY_QUEUES = (
    *(f"celery_delayed_{level}" for level in range(CELERY_DELAY_BITS)),
    *(ms_delay_level_name(level) for level in range(MS_DELAY_BITS)),
)
PEEK_LIMIT = 10_000


@dataclass(frozen=True)
class BrokerMessage:
    """One "run execution X" message found in the broker."""

    queue: str
    execution_id: str
    timer_id: int | None
    eta: str | None


@dataclass
class RestoreReport:
    newest_activity: datetime | None = None
    messages_seen: int = 0
    broker_checked: bool = False
    broker_error: str = ""
    unknown_executions: list[BrokerMessage] = field(default_factory=list)
    foreign_timers: list[BrokerMessage] = field(default_factory=list)
    overdue_timers: list[dict[str, Any]] = field(default_factory=list)
    stuck_executions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.unknown_executions or self.foreign_timers or self.overdue_timers or self.stuck_executions)

    def as_dict(self) -> dict[str, Any]:
        def message(m: BrokerMessage) -> dict[str, Any]:
            return {"queue": m.queue, "execution_id": m.execution_id, "timer_id": m.timer_id, "eta": m.eta}

        return {
            "newest_activity": self.newest_activity.isoformat() if self.newest_activity else None,
            "broker_checked": self.broker_checked,
            "broker_error": self.broker_error or None,
            "messages_seen": self.messages_seen,
            "unknown_executions": [message(m) for m in self.unknown_executions],
            "foreign_timers": [message(m) for m in self.foreign_timers],
            "overdue_timers": self.overdue_timers,
            "stuck_executions": self.stuck_executions,
            "clean": self.clean,
        }


# --- the broker -------------------------------------------------------------------------------------
def _run_message(queue: str, message: Any) -> BrokerMessage | None:
    """The execution a Celery "run execution" message names (protocol 2: [args, kwargs, embed])."""
    headers = message.headers or {}
    if headers.get("task") != TASK_RUN_EXECUTION:
        return None
    try:
        args, kwargs = message.decode()[:2]
        execution_id = str(args[0])
    except (ValueError, TypeError, IndexError, KeyError):
        return None
    timer_id = kwargs.get("timer_id") if isinstance(kwargs, dict) else None
    eta = headers.get("eta")
    return BrokerMessage(queue, execution_id, int(timer_id) if timer_id is not None else None, eta and str(eta))


def _existing_queues(connection: Connection, names: Iterable[str]) -> list[str]:
    present = []
    for name in names:
        channel = connection.channel()
        try:
            channel.queue_declare(queue=name, passive=True)
            present.append(name)
        except Exception:  # noqa: BLE001, S110 - a passive declare of a missing queue closes the channel
            pass
        finally:
            try:
                channel.close()
            except Exception:  # noqa: BLE001, S110 - already closed by the broker
                pass
    return present


def broker_messages(url: str, limit: int = PEEK_LIMIT) -> list[BrokerMessage]:
    """Every execution message in the broker, without consuming any (see the module's docstring)."""
    found: list[BrokerMessage] = []
    with Connection(url, connect_timeout=10) as connection:
        routing_keys = {queue.name: queue.routing_key for queue in RUN_QUEUES}
        queues = _existing_queues(connection, (*routing_keys, *DELAY_QUEUES, DLQ))
        for name in queues:
            channel = connection.channel()
            queue = Queue(name, no_declare=True).bind(channel)
            producer = Producer(channel, exchange=execution_exchange) if name in routing_keys else None
            taken = []
            try:
                while len(found) < limit:  # every message once: the taken ones stay unacknowledged
                    message = queue.get(no_ack=False)
                    if message is None:
                        break
                    taken.append(message)
                    decoded = _run_message(name, message)
                    if decoded is not None:
                        found.append(decoded)
                if producer is not None:  # a run queue: a fresh copy of each, the taken one acknowledged
                    for message in taken:
                        producer.publish(
                            message.body,
                            routing_key=routing_keys[name],
                            headers={k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")},
                            content_type=message.content_type,
                            content_encoding=message.content_encoding,
                            delivery_mode=2,
                            **{
                                key: message.properties[key]
                                for key in ("correlation_id", "reply_to", "priority")
                                if message.properties.get(key) is not None
                            },
                        )
                        message.ack()
            finally:
                channel.close()  # the delay queues' and the DLQ's unacknowledged copies go back
    return found


# --- the database -----------------------------------------------------------------------------------
def newest_activity() -> datetime | None:
    """The latest moment any execution was created or written: the restored backup's point in time."""
    moments = [
        Execution.objects.aggregate(m=Max("created_at"))["m"],
        ExecutionState.objects.aggregate(m=Max("updated_at"))["m"],
        ExecutionStep.objects.aggregate(m=Max("finished_at"))["m"],
    ]
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def overdue_timers(now: datetime) -> list[dict[str, Any]]:
    timers = ExecutionTimer.objects.filter(status=TimerStatus.SCHEDULED, due_at__lt=now).order_by("due_at")
    return [
        {
            "timer_id": t.id,
            "execution_id": str(t.execution_id),
            "node_id": t.node_id,
            "reason": t.reason,
            "due_at": t.due_at.isoformat(),
            "overdue_seconds": round((now - t.due_at).total_seconds(), 1),
        }
        for t in timers[:PEEK_LIMIT]
    ]


def stuck_executions(now: datetime) -> list[dict[str, Any]]:
    grace = now - timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS)
    stuck: list[dict[str, Any]] = []
    idle = Execution.objects.filter(
        status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING], state__updated_at__lt=grace
    ).values_list("id", "status", "state__updated_at", "state__current_node_id")
    for execution_id, status, updated_at, node_id in idle[:PEEK_LIMIT]:
        if status == ExecutionStatus.RUNNING and is_locked_elsewhere(str(execution_id)):
            continue  # a walk holds it: a long step, not a stuck execution
        stuck.append(
            {
                "execution_id": str(execution_id),
                "status": status,
                "node_id": node_id,
                "since": updated_at.isoformat(),
                "why": "no walk since" if status == ExecutionStatus.RUNNING else "never published or taken since",
            }
        )
    stalled = (
        Execution.objects.filter(status=ExecutionStatus.PAUSED, state__resume_at__lt=grace)
        .exclude(timers__status=TimerStatus.SCHEDULED)
        .values_list("id", "state__resume_at", "state__current_node_id")
    )
    for execution_id, resume_at, node_id in stalled[:PEEK_LIMIT]:
        stuck.append(
            {
                "execution_id": str(execution_id),
                "status": ExecutionStatus.PAUSED.value,
                "node_id": node_id,
                "since": resume_at.isoformat() if resume_at else None,
                "why": "paused past its wake-up time with no timer left",
            }
        )
    return stuck


def restore_check(*, broker_url: str | None = None, now: datetime | None = None) -> RestoreReport:
    """The whole report; `broker_url` None skips the broker (e.g. the embedded filesystem broker)."""
    now = now or timezone.now()
    report = RestoreReport(newest_activity=newest_activity())
    if broker_url:
        try:
            messages = broker_messages(broker_url)
        except OSError as exc:  # kombu's connection errors are OSErrors
            report.broker_error = f"{type(exc).__name__}: {exc}"
        else:
            report.broker_checked = True
            report.messages_seen = len(messages)
            ids = {m.execution_id for m in messages}
            known = {str(pk) for pk in Execution.objects.filter(pk__in=_uuids(ids)).values_list("pk", flat=True)}
            timer_ids = {m.timer_id for m in messages if m.timer_id is not None}
            owners = {
                pk: str(execution_id)
                for pk, execution_id in ExecutionTimer.objects.filter(pk__in=timer_ids).values_list(
                    "pk", "execution_id"
                )
            }
            for m in messages:
                if m.execution_id not in known:
                    report.unknown_executions.append(m)
                elif m.timer_id is not None and owners.get(m.timer_id) != m.execution_id:
                    report.foreign_timers.append(m)
    report.overdue_timers = overdue_timers(now)
    report.stuck_executions = stuck_executions(now)
    return report


def _uuids(values: Iterable[str]) -> list[str]:
    """The values that are UUIDs (a malformed id in a message must not fail the whole query)."""
    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(value)))
        except ValueError:
            continue
    return valid
