"""Two real beats (issue 18 item 4): `celery beat` with the project's scheduler, started at once
against the same database. One holds the beat lock and fires; the other stands by. When the holder is
black-holed (tests/helpers/netcut.py: no FIN, no RST — its PostgreSQL session stays open and idle) or
frozen (SIGSTOP), the standby ends the silent session after SCHEMA_BEAT_LOCK_SECONDS and takes over;
when the old holder heals or wakes, its fence stops it before it sends anything. Throughout, an
every-minute cron trigger starts exactly one execution per tick, with no tick missed.

The takeover time is measured and printed (docs/operations.md "Failure model" has the figures).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from executions_app.models import Execution
from schemas_app.services import schema_activate
from tests.builders import cron_definition
from tests.factories import create_schema
from tests.helpers.live_api import database_url
from tests.helpers.netcut import CutProxy, freeze, thaw
from tests.system.conftest import SystemEnv
from tests.system.helpers import SYSTEM_MARKS, Beat, wait_until

pytestmark = SYSTEM_MARKS

STANDS_BY = "another beat holds the beat lock; this one stands by"
TAKES_OVER = "beat lock taken: this beat now fires the schedules"
LOST = "beat lock lost"
# The documented bound with the defaults: SCHEMA_BEAT_LOCK_SECONDS (30) + the standby's poll (5) +
# start-up of its scheduler; on this loaded test machine the test allows twice that.
TAKEOVER_BOUND = 90.0


class ProxiedBeat:
    def __init__(self, beat: Beat, proxies: list[CutProxy]) -> None:
        self.beat, self.proxies = beat, proxies

    def cut(self, how: str) -> None:
        if how == "blackhole":
            for proxy in self.proxies:
                proxy.blackhole()
        else:
            assert self.beat.proc is not None
            freeze(self.beat.proc.pid)

    def heal(self, how: str) -> None:
        if how == "blackhole":
            for proxy in self.proxies:
                proxy.heal()
        else:
            assert self.beat.proc is not None
            thaw(self.beat.proc.pid)


@pytest.fixture
def proxies() -> Iterator[list[CutProxy]]:
    made: list[CutProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def _start_beat(system: SystemEnv, proxies: list[CutProxy], name: str) -> ProxiedBeat:
    db, amqp = urlsplit(database_url()), urlsplit(system.vhost.url)
    pg = CutProxy(db.hostname or "127.0.0.1", db.port or 5432)
    rabbit = CutProxy(amqp.hostname or "127.0.0.1", amqp.port or 5672)
    proxies += [pg, rabbit]
    env = system.worker_env(DATABASE_URL=pg.url(database_url()), RABBITMQ_URL=rabbit.url(system.vhost.url))
    beat = Beat(name, env, system.log_dir, 0)
    system.workers.append(beat)  # killed (and its log shown on failure) with the workers
    beat.start()
    return ProxiedBeat(beat, [pg, rabbit])


def _ticks(schema: Any) -> collections.Counter[str]:
    """How many executions each cron tick started."""
    payloads = Execution.objects.filter(schema=schema, trigger_type="scheduler").values_list(
        "trigger_payload", flat=True
    )
    return collections.Counter(str(p["scheduled_at"]) for p in payloads)


def _tick_after(schema: Any, moment: datetime) -> bool:
    return any(datetime.fromisoformat(t) > moment for t in _ticks(schema))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("cut", ["blackhole", "sigstop"])
def test_two_beats_fire_each_cron_tick_once_across_a_takeover(
    system: SystemEnv, proxies: list[CutProxy], cut: str
) -> None:
    worker = system.start_worker(concurrency=2)  # takes the cron ticks (not cut)
    schema = create_schema(definition=cron_definition("* * * * *", "UTC"), name="every minute")
    schema_activate(schema)
    beats = [_start_beat(system, proxies, name) for name in ("beat1", "beat2")]  # at once

    wait_until(lambda: any(STANDS_BY in b.beat.log() for b in beats), timeout=120, what="one beat to stand by")
    [holder] = [b for b in beats if STANDS_BY not in b.beat.log()]
    [standby] = [b for b in beats if b is not holder]
    wait_until(lambda: _ticks(schema), timeout=150, what="the first cron tick")

    holder.cut(cut)
    cut_at, cut_wall = time.monotonic(), datetime.now().astimezone()
    wait_until(lambda: TAKES_OVER in standby.beat.log(), timeout=TAKEOVER_BOUND, what="the standby to take over")
    taken_at, taken_wall = time.monotonic(), datetime.now().astimezone()
    # The new holder fires the next tick on time.
    wait_until(lambda: _tick_after(schema, taken_wall), timeout=150, what="a tick fired by the new holder")

    holder.heal(cut)
    healed_at = time.monotonic()
    wait_until(lambda: not holder.beat.alive, timeout=120, what="the healed beat to stop")
    stopped_at = time.monotonic()
    assert LOST in holder.beat.log()
    # One more tick after the old holder came back: still one execution per tick.
    healed_wall = datetime.now().astimezone()
    wait_until(lambda: _tick_after(schema, healed_wall + timedelta(seconds=1)), timeout=150, what="one more tick")
    time.sleep(5)  # a late duplicate would land by now

    ticks = _ticks(schema)
    assert all(count == 1 for count in ticks.values()), f"a tick fired twice: {ticks}"
    times = sorted(datetime.fromisoformat(t) for t in ticks)
    gaps = [b - a for a, b in itertools.pairwise(times) if b - a != timedelta(minutes=1)]
    assert not gaps, f"a tick was missed: {sorted(ticks)}"
    assert standby.beat.alive and STANDS_BY not in holder.beat.log()
    print(
        f"\n[beat {cut}] SCHEMA_BEAT_LOCK_SECONDS={django_settings.SCHEMA_BEAT_LOCK_SECONDS}: standby took over "
        f"{taken_at - cut_at:.1f}s after the cut (cut at {cut_wall:%H:%M:%S}); the healed beat stopped "
        f"{stopped_at - healed_at:.1f}s after healing; ticks {len(ticks)}, each once; "
        f"repeated sends refused by the worker: {worker.log().count('fired before: no second execution')}"
    )
