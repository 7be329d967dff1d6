"""Pausing, resuming and draining a whole schema (issue 16; docs/policies.md "Pausing a schema").

A paused schema (`schemas.paused_at`) starts nothing new: a cron tick is skipped; a webhook or manual
call is accepted and held (`pending`, `queued_reason` = PAUSED_REASON, no message published) or, with
the setting `when_paused: "refuse"`, refused (`SchemaPaused`, 409); an error-schema run is held.
Executions already accepted go on (running, paused in a delay or wait, queued for a concurrency
slot), and a running execution's sub-schema runs start as usual: they are part of its work.
Resuming clears the reason of the held executions in one transaction and publishes them after
commit, oldest first; a publish that is lost, or an execution held by a trigger that read the
schema just before the resume committed, is started by `pause_reconcile` (the reconciler).
Draining is pausing and reporting when nothing of the schema is left to run (`schema_drain_status`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from schemas_app.models import Schema

from .dispatch import publish_execution
from .models import Execution, ExecutionStatus

logger = logging.getLogger("schema.executions")
PAUSED_REASON = "queued: the schema is paused"
UNFINISHED = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)


class SchemaPaused(Exception):
    """A trigger call refused because the schema is paused and its setting says `refuse` (→ 409)."""


def held(schema: Schema) -> bool:
    """Whether a new execution of this schema is held (it is paused)."""
    return getattr(schema, "paused_at", None) is not None


def schema_pause(schema: Schema) -> Schema:
    """Pause (again: a no-op keeping the first time)."""
    Schema.objects.filter(pk=schema.pk, paused_at__isnull=True).update(paused_at=timezone.now())
    schema.refresh_from_db(fields=["paused_at"])
    logger.info("schema paused", extra={"schema_id": str(schema.pk)})
    return schema


def _release(schema_id: Any, held_ids: list[Any]) -> list[tuple[str, str, bool, int]]:
    """Within a transaction: the held executions lose their reason; returns what to publish."""
    rows = list(
        Execution.objects.filter(pk__in=held_ids, status=ExecutionStatus.PENDING, queued_reason=PAUSED_REASON)
        .order_by("created_at", "id")
        .values_list("id", "request_id", "started_at", "priority")
    )
    Execution.objects.filter(pk__in=[r[0] for r in rows]).update(queued_reason="")
    return [(str(i), request_id, started is not None, priority) for i, request_id, started, priority in rows]


def _publish(rows: list[tuple[str, str, bool, int]]) -> None:
    for execution_id, request_id, started, priority in rows:
        try:  # a high-priority one to the priority queue, as its trigger would have published it
            publish_execution(execution_id, request_id=request_id, wake_up=started, priority=priority)
        except Exception as exc:  # noqa: BLE001 - a broker error: the reconciler publishes it later
            logger.warning("could not publish a resumed execution (%s); the reconciler will", exc)
            return


def schema_resume(schema: Schema) -> int:
    """Resume: the schema starts executions again, and the ones held meanwhile start (oldest first).
    Returns how many were held."""
    with transaction.atomic():
        locked = Schema.objects.select_for_update().get(pk=schema.pk)
        locked.paused_at = None
        locked.save(update_fields=["paused_at"])
        held_ids = list(
            Execution.objects.filter(
                schema_id=schema.pk, status=ExecutionStatus.PENDING, queued_reason=PAUSED_REASON
            ).values_list("id", flat=True)
        )
        rows = _release(schema.pk, held_ids)
        transaction.on_commit(lambda: _publish(rows))
    schema.paused_at = None
    logger.info("schema resumed", extra={"schema_id": str(schema.pk), "held_executions": len(rows)})
    return len(rows)


def schema_drain_status(schema: Schema) -> dict[str, Any]:
    """What is left of a (paused) schema: `running` counts every unfinished execution that will still
    run (running, paused in a delay or wait, queued for a slot, accepted before the pause); `held`
    the ones waiting for the resume. Drained: paused and nothing running."""
    unfinished = Execution.objects.filter(schema_id=schema.pk, status__in=UNFINISHED)
    is_held = Q(status=ExecutionStatus.PENDING, queued_reason=PAUSED_REASON)
    running = unfinished.exclude(is_held).count()
    waiting = unfinished.filter(is_held).count()
    paused = schema.paused_at is not None
    return {
        "paused": paused,
        "paused_at": schema.paused_at,
        "running": running,
        "held": waiting,
        "drained": paused and running == 0,
    }


def schema_drain(schema: Schema) -> dict[str, Any]:
    """Pause, and report what is still running (`drained` once nothing is)."""
    return schema_drain_status(schema_pause(schema))


def pause_reconcile(now: Any = None) -> int:
    """Periodic repair: executions held for a schema that is no longer paused (held by a trigger that
    read the schema just before the resume, or whose publish after the resume was lost). Returns
    how many were started."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS)
    stuck = Execution.objects.filter(
        status=ExecutionStatus.PENDING,
        queued_reason=PAUSED_REASON,
        schema__paused_at__isnull=True,
        created_at__lt=grace,
    ).values_list("schema_id", "id")[:500]
    by_schema: dict[Any, list[Any]] = {}
    for schema_id, execution_id in stuck:
        by_schema.setdefault(schema_id, []).append(execution_id)
    started = 0
    for schema_id, ids in by_schema.items():
        with transaction.atomic():
            rows = _release(schema_id, ids)
            transaction.on_commit(lambda rows=rows: _publish(rows))  # type: ignore[misc]
        started += len(rows)
    if started:
        logger.warning("reconciler started executions held for a resumed schema", extra={"started": started})
    return started
