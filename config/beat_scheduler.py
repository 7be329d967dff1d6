"""The project's beat scheduler: django-celery-beat's `DatabaseScheduler`, fenced and tick-stamped.

- Fenced: before each send, beat checks that it still holds the beat lock (`beat_lock.fence`); a
  beat that was frozen or cut off while a standby took over ends there, sending nothing.
- Tick-stamped: a cron trigger's message carries the tick it fires (`tick`: the latest time of the
  cron expression at or before the send, in the schedule's time zone). The worker starts one
  execution per (schema, tick) (`executions_app.services.execution_from_schedule`), so a tick sent
  twice — by a beat that took over with the last run time it read at start, or by one that slipped a
  send past the fence — still starts one execution.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from django_celery_beat.schedulers import DatabaseScheduler, ModelEntry

from config import beat_lock
from config.queues import TASK_SCHEDULE_FIRE

# Beat fires a tick at (or just after) its time; a second of slack keeps a send a hair early from
# naming the previous tick.
_SLACK = timedelta(seconds=1)


def cron_tick(crontab: Any, now: datetime) -> datetime:
    """The latest time of the django-celery-beat `CrontabSchedule` at or before `now` (+ slack)."""
    tz = zoneinfo.ZoneInfo(str(crontab.timezone or "UTC"))
    expression = " ".join(
        str(part)
        for part in (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week)
    )
    tick: datetime = croniter(expression, (now + _SLACK).astimezone(tz)).get_prev(datetime)
    return tick


class FencedDatabaseScheduler(DatabaseScheduler):  # type: ignore[misc]
    """`DatabaseScheduler` with the fence and the tick (see the module)."""

    def apply_async(self, entry: ModelEntry, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        beat_lock.fence()
        if advance:  # what the base class does first; then the entry is sent as it is
            entry = self.reserve(entry)
        crontab = getattr(entry.model, "crontab", None)
        if entry.task == TASK_SCHEDULE_FIRE and crontab is not None:
            # A copy: the scheduler keeps the entry (beat's tick() sends the entry it had, not the
            # one `reserve` made for the next run), so a stamp must not outlive this send.
            stamped = object.__new__(type(entry))  # a shallow copy (ScheduleEntry's __reduce__ would rebuild)
            stamped.__dict__.update(entry.__dict__)
            entry = stamped
            entry.kwargs = {**entry.kwargs, "tick": cron_tick(crontab, self.app.now()).isoformat()}
        return super().apply_async(entry, producer, False, **kwargs)
