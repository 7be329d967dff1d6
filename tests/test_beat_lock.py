"""One beat at a time (config/beat_lock.py): a second beat stands by while the first holds the lock,
and takes over once the first's connection is gone (its process ended) or has been silent too long
(frozen, cut off); the cron tick a send names (config/beat_scheduler.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from config import beat_lock

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_lock_left() -> Any:
    yield
    beat_lock._held.clear()  # the connection a test's "beat" kept (closed by the test)


def test_a_second_beat_stands_by_until_the_first_is_gone(caplog: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the beat lock is a PostgreSQL advisory lock")
    database = connection.settings_dict
    first = beat_lock.beat_lock_wait(database, poll=0.1)
    taken: list[Any] = []
    second = threading.Thread(target=lambda: taken.append(beat_lock.beat_lock_wait(database, poll=0.1)), daemon=True)
    second.start()
    time.sleep(1.5)
    assert taken == [], "two beats held the lock at once"
    assert "another beat holds the beat lock; this one stands by" in caplog.text

    first.close()  # the first beat's process ended: its session (and lock) with it
    second.join(timeout=30)
    assert len(taken) == 1, "the standby beat never took over"
    probe = beat_lock.connect(database)
    assert not beat_lock.try_hold(probe), "the standby holds it now"
    probe.close()
    taken[0].close()


def _skip_unless_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the beat lock is a PostgreSQL advisory lock")


def test_a_silent_holder_is_ended_and_the_standby_takes_over_but_a_live_one_is_not(
    caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frozen or cut-off beat keeps its session open and idle: the standby ends it once it has been
    silent for `silent_after` (here 1.5 s), and the old beat's fence then stops it before any send."""
    _skip_unless_postgres()
    database = connection.settings_dict
    first = beat_lock.beat_lock_wait(database, poll=0.1)
    alive = threading.Event()
    alive.set()

    def touch() -> None:  # what the holder's watchdog does, every 0.2 s here
        while alive.is_set():
            first.execute("SELECT 1")
            time.sleep(0.2)

    toucher = threading.Thread(target=touch, daemon=True)
    toucher.start()
    taken: list[Any] = []
    second = threading.Thread(
        target=lambda: taken.append(beat_lock.beat_lock_wait(database, poll=0.2, silent_after=1.5)), daemon=True
    )
    second.start()
    time.sleep(3)
    assert taken == [], "a live holder was taken over"

    alive.clear()  # frozen: no more touches
    toucher.join()
    second.join(timeout=30)
    assert len(taken) == 1, "the standby never took over from the silent holder"
    assert "has been silent for" in caplog.text and "this beat takes over" in caplog.text

    exits: list[int] = []
    monkeypatch.setattr(beat_lock.os, "_exit", exits.append)
    beat_lock._held[:] = [first]  # the old beat wakes up and is about to send: its fence stops it
    beat_lock.fence()
    assert exits == [1] and "beat lock lost" in caplog.text
    beat_lock._held[:] = [taken[0]]
    beat_lock.fence()  # the new holder's session is alive: it sends
    assert exits == [1]
    first.close()
    taken[0].close()


class _Crontab:
    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week = expression.split()
        self.timezone = timezone


def test_a_cron_tick_is_the_latest_time_of_the_expression_at_the_send() -> None:
    from datetime import UTC, datetime

    from config.beat_scheduler import cron_tick

    at = datetime(2026, 12, 1, 10, 7, 30, tzinfo=UTC)
    assert cron_tick(_Crontab("*/5 * * * *"), at).isoformat() == "2026-12-01T10:05:00+00:00"
    early = datetime(2026, 12, 1, 10, 4, 59, 600000, tzinfo=UTC)  # a hair early: still the 10:05 tick
    assert cron_tick(_Crontab("*/5 * * * *"), early).isoformat() == "2026-12-01T10:05:00+00:00"
    # A takeover's catch-up send, 40 s late, names the tick the other beat sent (the same key).
    assert cron_tick(_Crontab("* * * * *"), datetime(2026, 12, 1, 10, 5, 40, tzinfo=UTC)) == cron_tick(
        _Crontab("* * * * *"), datetime(2026, 12, 1, 10, 5, 0, 200000, tzinfo=UTC)
    )
    berlin = cron_tick(_Crontab("0 9 * * *", "Europe/Berlin"), datetime(2026, 12, 1, 8, 30, tzinfo=UTC))
    assert berlin.isoformat() == "2026-12-01T09:00:00+01:00"
