"""Cron ticks fire once (issue 18): the project's beat scheduler stamps a cron trigger's message with
its tick, and the worker starts one execution per (schema, tick) — two beats across a takeover, or a
send repeated, start it once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from celery import beat
from django_celery_beat.models import PeriodicTask

from config.beat_scheduler import FencedDatabaseScheduler
from config.celery_app import app
from executions_app.models import Execution
from executions_app.tasks import schedule_fire_task
from schemas_app import services as schema_services
from tests.builders import cron_definition
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tick_sent_twice_starts_one_execution_and_the_next_tick_another(caplog: pytest.LogCaptureFixture) -> None:
    schema = create_schema(definition=cron_definition("* * * * *", "UTC"))
    schema_services.schema_activate(schema)
    first = schedule_fire_task(str(schema.id), tick="2026-12-01T10:05:00+00:00")
    again = schedule_fire_task(str(schema.id), tick="2026-12-01T10:05:00+00:00")
    following = schedule_fire_task(str(schema.id), tick="2026-12-01T10:06:00+00:00")
    assert first == again != following
    ticks: list[Any] = sorted(
        Execution.objects.filter(schema=schema).values_list("trigger_payload", flat=True), key=str
    )
    assert [t["scheduled_at"] for t in ticks] == ["2026-12-01T10:05:00+00:00", "2026-12-01T10:06:00+00:00"]
    assert "cron tick 2026-12-01T10:05:00+00:00 fired before" in caplog.text


def test_the_scheduler_stamps_a_cron_triggers_message_with_its_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = create_schema(definition=cron_definition("*/5 * * * *", "UTC"))
    schema_services.schema_activate(schema)
    scheduler = FencedDatabaseScheduler(app=app)
    sent: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        beat.Scheduler,  # celery's: record what would be published
        "apply_async",
        lambda self, entry, producer=None, advance=True, **kw: sent.append((entry.name, dict(entry.kwargs))),
    )
    entry = scheduler.schedule[f"schema:{schema.id}"]
    scheduler.apply_entry(entry)  # as beat's tick() sends a due entry (advance=False: the entry it had)
    scheduler.apply_async(scheduler.schedule["schema-reconcile"])
    [(name, kwargs), (other, other_kwargs)] = sent
    tick = kwargs["tick"]
    assert name == f"schema:{schema.id}" and tick.endswith(":00+00:00") and int(tick[14:16]) % 5 == 0, tick
    assert (other, other_kwargs) == ("schema-reconcile", {}), "only cron triggers carry a tick"
    assert "tick" not in entry.kwargs, "the stamp stayed on the scheduler's entry"
    assert json.loads(PeriodicTask.objects.get(name=f"schema:{schema.id}").kwargs or "{}") == {}, "stored"
