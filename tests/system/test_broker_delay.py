"""`executions_app.dispatch.broker_delay`: how a timer's ETA is handed to RabbitMQ's whole-second delay queues
(pure function; the system tests measure the resulting lateness with real workers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executions_app.dispatch import MAX_WORKER_HOLD_SECONDS, broker_delay

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_due_or_past_is_published_at_once() -> None:
    assert broker_delay(at(0), NOW) == {} and broker_delay(at(-3), NOW) == {}


def test_less_than_a_second_rounds_up_to_one_second_never_zero() -> None:
    # Celery would truncate 0.98 s to 0 and raise "countdown must be a positive number".
    for seconds in (0.001, 0.5, 0.98, 0.999):
        assert broker_delay(at(seconds), NOW) == {"countdown": 1}


def test_a_small_fraction_rides_the_eta_and_the_worker_holds_it_briefly() -> None:
    for seconds in (1.01, 1.2, 2.25, 59.1):
        assert broker_delay(at(seconds), NOW) == {"eta": at(seconds)}
        assert seconds - int(seconds) <= MAX_WORKER_HOLD_SECONDS


def test_a_large_fraction_rounds_up_so_nothing_waits_in_a_worker() -> None:
    assert broker_delay(at(1.98), NOW) == {"countdown": 2}
    assert broker_delay(at(2.5), NOW) == {"countdown": 3}
    # A fraction too close to a whole second could be truncated one second short by Celery.
    assert broker_delay(at(1.001), NOW) == {"countdown": 2}
    assert broker_delay(at(3.0), NOW) == {"countdown": 3}
