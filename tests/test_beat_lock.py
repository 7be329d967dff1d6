"""One beat at a time (config/beat_lock.py): a second beat stands by while the first holds the lock,
and takes over once the first's connection is gone (its process ended)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from config import beat_lock

pytestmark = pytest.mark.django_db


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
