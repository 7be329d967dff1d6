"""Cron schedules of active schemas, kept in django-celery-beat's tables.

A schema whose trigger is `schedule_trigger` gets one `PeriodicTask` (named `schema:<id>`) while it
is active; beat then sends `engine.tasks.schedule_fire` with the schema id at each tick.
"""

from __future__ import annotations

import json
from typing import Any

from django_celery_beat.models import CrontabSchedule, PeriodicTask

from .models import Schema, SchemaStatus

SCHEDULE_TASK = "engine.tasks.schedule_fire"


def _task_name(schema: Schema) -> str:
    return f"schema:{schema.id}"


def schedule_trigger_config(definition: dict[str, Any]) -> dict[str, Any] | None:
    for node in definition.get("nodes", []):
        if isinstance(node, dict) and node.get("type") == "schedule_trigger":
            config = node.get("config") or {}
            return config if isinstance(config, dict) else {}
    return None


def schedule_remove(schema: Schema) -> None:
    PeriodicTask.objects.filter(name=_task_name(schema)).delete()


def schedule_sync(schema: Schema) -> None:
    """Make beat's table match the schema: a cron task iff active with a schedule trigger."""
    config = schedule_trigger_config(schema.definition) if schema.status == SchemaStatus.ACTIVE else None
    if config is None:
        schedule_remove(schema)
        return
    minute, hour, day_of_month, month_of_year, day_of_week = str(config["cron"]).split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=config.get("timezone") or "UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=_task_name(schema),
        defaults={
            "task": SCHEDULE_TASK,
            "crontab": crontab,
            "interval": None,
            "args": json.dumps([str(schema.id)]),
            "enabled": True,
            "description": f"Cron trigger of schema {schema.name!r}",
        },
    )
