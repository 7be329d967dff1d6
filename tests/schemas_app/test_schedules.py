"""Cron triggers: activating a `schedule_trigger` schema registers a django-celery-beat PeriodicTask
with its crontab and time zone, archiving removes it, and `engine.tasks.schedule_fire` (what beat
sends at each tick) starts a `scheduler` execution only while the schema is active.
Celery runs eagerly here (no worker processes needed)."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import PeriodicTask

from executions_app.models import Execution
from executions_app.tasks import schedule_fire_task
from schemas_app import services as schema_services
from tests.builders import cron_definition, linear_definition
from tests.factories import create_schema, periodic_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_activate_registers_the_cron_archive_removes_it_and_only_active_schemas_fire() -> None:
    schema = create_schema(definition=cron_definition(), name="Office hours")
    assert periodic_task(schema) is None, "a draft has no schedule"
    assert schedule_fire_task(str(schema.id)) is None, "a draft never fires"

    schema_services.schema_activate(schema)
    task = periodic_task(schema)
    assert task is not None and task.enabled and task.task == "engine.tasks.schedule_fire"
    assert json.loads(task.args) == [str(schema.id)]
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week) == (
        "*/5",
        "9-17",
        "*",
        "*",
        "1-5",
    )
    assert str(crontab.timezone) == "Europe/Berlin"

    execution_id = schedule_fire_task(str(schema.id))
    execution = Execution.objects.get(pk=execution_id)
    assert execution.trigger_type == "scheduler" and "scheduled_at" in execution.trigger_payload
    assert execution.status == "completed" and execution.result == "ticked"

    # Editing the cron of an active schema moves its schedule.
    schema_services.schema_update(schema, definition=cron_definition("0 7 * * *", "America/New_York"))
    task = periodic_task(schema)
    assert task is not None and (task.crontab.minute, task.crontab.hour) == ("0", "7")
    assert str(task.crontab.timezone) == "America/New_York"
    assert PeriodicTask.objects.filter(name=f"schema:{schema.id}").count() == 1

    schema_services.schema_archive(schema)
    assert periodic_task(schema) is None
    assert schedule_fire_task(str(schema.id)) is None, "an archived schema never fires, even from a stale tick"
    assert Execution.objects.filter(schema=schema).count() == 1


def test_a_schema_without_a_schedule_trigger_gets_no_periodic_task() -> None:
    schema = create_schema(name="Manual only", activate=True)
    assert periodic_task(schema) is None


def test_a_stale_tick_does_not_start_a_schema_that_lost_its_schedule_trigger() -> None:
    schema = create_schema(name="Was cron", definition=cron_definition("*/5 * * * *", "UTC"), activate=True)
    schema_services.schema_update(schema, definition=linear_definition())
    assert periodic_task(schema) is None
    assert schedule_fire_task(str(schema.id)) is None
    assert not Execution.objects.filter(schema=schema).exists()
