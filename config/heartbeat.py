"""Heartbeat files of the worker and beat: the signal of the chart's probes and the image's HEALTHCHECK.

Off unless `SCHEMA_HEARTBEAT_DIR` is set (the production image and the chart set `/tmp`). Then:
- the worker touches `worker.heartbeat` every `HEARTBEAT_SECONDS` from a timer of its consumer's
  event loop (the loop that receives messages: a hung loop stops touching it), and writes
  `worker.ready` once it consumes (`worker_ready`), removing both at shutdown;
- beat touches `beat.heartbeat` after every pass of its scheduler loop (django-celery-beat passes at
  least every 5 s), so only a beat that holds the beat lock (config/beat_lock.py) and ticks has one.
`compose/production/django/healthcheck.py` reads them (`python /healthcheck.py worker|beat`): that
file stands alone (a probe must not import Django), so the names are repeated there and a system
test (tests/system/test_start_scripts.py) checks both sides agree.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from celery import bootsteps

HEARTBEAT_SECONDS = 5.0


def heartbeat_dir() -> Path | None:
    value = os.environ.get("SCHEMA_HEARTBEAT_DIR", "")
    return Path(value) if value else None


def touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:  # a full or missing /tmp must not stop the worker: the probe reports it instead
        pass


def remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Worker bootstep: the heartbeat timer runs on the worker's timer, which the consumer's event
    loop drives (kombu's hub timer, with the AMQP transport)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None
        self.directory = heartbeat_dir()

    def start(self, parent: Any) -> None:
        if self.directory is None:
            return
        beat = self.directory / "worker.heartbeat"
        touch(beat)
        self.tref = parent.timer.call_repeatedly(HEARTBEAT_SECONDS, touch, (beat,), priority=10)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.directory is not None:
            remove(self.directory / "worker.heartbeat", self.directory / "worker.ready")


def worker_ready() -> None:
    directory = heartbeat_dir()
    if directory is not None:
        touch(directory / "worker.ready")


def beat_heartbeat(service: Any) -> None:
    """Wraps the beat service's scheduler pass so that each pass touches `beat.heartbeat`."""
    directory = heartbeat_dir()
    if directory is None:
        return
    path = directory / "beat.heartbeat"
    scheduler = service.scheduler
    tick = scheduler.tick

    def tick_and_touch(*args: Any, **kwargs: Any) -> Any:
        interval = tick(*args, **kwargs)
        touch(path)
        return interval

    scheduler.tick = tick_and_touch
    touch(path)
