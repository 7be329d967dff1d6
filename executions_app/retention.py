"""Retention: delete finished executions older than a cut-off, in small batches.

Each batch is its own short transaction (steps, state and timers go with their execution by
cascade), so pruning millions of rows never holds long locks or bloats one transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import FINISHED_STATUSES, Execution, ExecutionStep

logger = logging.getLogger("schema.retention")


def prune_executions(*, older_than: datetime, batch_size: int = 500, max_batches: int | None = None) -> int:
    deleted = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        ids = list(
            Execution.objects.filter(created_at__lt=older_than, status__in=FINISHED_STATUSES)
            .order_by("created_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            break
        with transaction.atomic():
            ExecutionStep.objects.filter(execution_id__in=ids).delete()
            Execution.objects.filter(id__in=ids).delete()
        deleted += len(ids)
        batches += 1
    logger.info("pruned executions", extra={"deleted": deleted, "older_than": older_than.isoformat()})
    return deleted


def prune_older_than_retention() -> int:
    days = settings.SCHEMA_RETENTION_DAYS
    if days <= 0:
        return 0
    return prune_executions(older_than=timezone.now() - timedelta(days=days))
