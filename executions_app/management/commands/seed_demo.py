"""`manage.py seed_demo`: a demo user, schemas of several shapes and their run history.

The history is made by the engine: each demo run is walked by `engine.walker.walk` on the engine's
in-memory store with a clock set in the past and the HTTP node answered by a local stub (nothing
leaves the machine); a person's decision is the engine's own resume or cancel. What the walk
recorded — steps, checkpoint, status, error — is then written through the worker's store
(`DjangoExecutionStore`), so each seeded execution is one the engine could have produced, and the
actions the editor offers on it (retry from the failed step, resume, cancel) work. Nothing is
published: no execution is left for the worker, and no demo schema calls the internet on start-up
(the schedule-triggered one is left a draft). Idempotent: a second run changes nothing (pass
`--reset` to delete the demo user's schemas and start over).
"""

from __future__ import annotations

import io
import json
import logging
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from zoneinfo import ZoneInfo

import requests
from croniter import croniter
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from accounts.models import User
from engine.memory_store import MemoryStore
from engine.nodes import NodeServices
from engine.store import Checkpoint, StepRecord, Waiting, waiting_entries
from engine.walker import WalkOutcome, walk
from executions_app.models import Execution, ExecutionState, ExecutionTimer, TimerStatus, TriggerType
from executions_app.services import execution_create, schema_delete
from executions_app.store import DjangoExecutionStore
from schemas_app import services
from schemas_app.models import Schema, SchemaVersion

NODE_LOGGER = "schema.demo.nodes"
# Quiet while seeding: the walks are history, not work this process does (the store's step lines,
# the demo's `log` nodes).
QUIET_LOGGERS = ("schema.engine", f"{NODE_LOGGER}.log")
TIMER_LATENESS = timedelta(milliseconds=3)  # how late the demo's timers fired


def _n(
    node_id: str, node_type: str, x: int, y: int, config: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "name": node_id.replace("_", " ").title(),
        "config": config or {},
        "position": {"x": y * 2, "y": x},  # left to right, as the ports are drawn
        **extra,
    }


def _e(source: str, target: str, port: str = "out") -> dict[str, Any]:
    return {"id": f"e_{source}_{target}", "source": source, "target": target, "source_port": port}


@dataclass(frozen=True)
class DemoRun:
    """One execution of the history, as a person or a trigger made it happen."""

    hours_ago: float = 0.0  # when it started (schedule-triggered runs: at their `ticks_ago`-th cron tick)
    ticks_ago: int = 0
    payload: Any = None  # the trigger payload (schedule triggers: {"scheduled_at": tick})
    http: Sequence[tuple[int, Any]] = ()  # what the stub answers to each HTTP call, in order
    resume: Any = None  # the payload a person resumed the `wait` with; None: it still waits
    cancel: bool = False  # a person cancelled it while it waited
    decided_after_minutes: int = 20  # how long the person took


STATS = {"orders": 128, "revenue_eur": 5432.1, "refunds": 2}

DEMO_SCHEMAS: list[dict[str, Any]] = [
    {
        "name": "Order intake",
        "description": "Webhook receives an order, checks the amount and notifies the right team.",
        "activate": True,
        "definition": {
            "variables": {"threshold": 100},
            "nodes": [
                _n("incoming_order", "webhook_trigger", 0, 0),
                _n(
                    "total",
                    "set",
                    0,
                    120,
                    {"assignments": [{"name": "total", "value": "{{ trigger.amount | default(0) }}"}]},
                ),
                _n("is_big", "condition", 0, 240, {"expression": "{{ vars.total >= vars.threshold }}"}),
                _n("notify_sales", "log", -200, 360, {"level": "info", "message": "Big order: {{ vars.total }}"}),
                _n("auto_approve", "log", 200, 360, {"level": "info", "message": "Auto-approved {{ vars.total }}"}),
                _n("done", "end", 0, 480, {"output": "{{ vars }}"}),
            ],
            "edges": [
                _e("incoming_order", "total"),
                _e("total", "is_big"),
                _e("is_big", "notify_sales", "true"),
                _e("is_big", "auto_approve", "false"),
                _e("notify_sales", "done"),
                _e("auto_approve", "done"),
            ],
        },
        "runs": [
            DemoRun(hours_ago=1.2, payload={"amount": 400, "customer": "c-311"}),
            DemoRun(hours_ago=4.5, payload={"amount": 20, "customer": "c-118"}),
            # A sender's bug: the amount as words. The condition cannot compare it: the run fails there.
            DemoRun(hours_ago=9.1, payload={"amount": "one hundred", "customer": "c-507"}),
            DemoRun(hours_ago=15.7, payload={"amount": 150, "customer": "c-240"}),
            DemoRun(hours_ago=26.3, payload={"amount": 80, "customer": "c-903"}),
        ],
    },
    {
        "name": "Nightly report",
        "description": (
            "Every night at 02:00 Berlin time: fetch stats and log a summary. A draft: activate it "
            "once its URL points at your own stats endpoint."
        ),
        "activate": False,
        "definition": {
            "variables": {},
            "nodes": [
                _n("every_night", "schedule_trigger", 0, 0, {"cron": "0 2 * * *", "timezone": "Europe/Berlin"}),
                _n(
                    "fetch_stats",
                    "http_request",
                    0,
                    120,
                    {"method": "GET", "url": "https://example.com/stats.json", "timeout_seconds": 10},
                    retry={
                        "max_attempts": 3,
                        "backoff": "exponential",
                        "base_seconds": 2,
                        "max_seconds": 60,
                        "jitter": True,
                    },
                    on_error="error",
                ),
                _n("summary", "log", -150, 240, {"level": "info", "message": "Stats: {{ input.body }}"}),
                _n("alert", "log", 150, 240, {"level": "error", "message": "Stats unavailable: {{ input.error }}"}),
            ],
            "edges": [
                _e("every_night", "fetch_stats"),
                _e("fetch_stats", "summary"),
                _e("fetch_stats", "alert", "error"),
            ],
        },
        "runs": [
            DemoRun(ticks_ago=1, http=[(200, STATS)]),
            # The stats service was down all night: three attempts, then the error port's alert.
            DemoRun(ticks_ago=2, http=[(503, {"error": "maintenance"})] * 3),
            # Down once, fine on the retry.
            DemoRun(ticks_ago=3, http=[(503, {"error": "maintenance"}), (200, {**STATS, "orders": 97})]),
        ],
    },
    {
        "name": "Approval with reminder",
        "description": "Waits for a human decision (resume via API) after a short delay.",
        "activate": False,
        "definition": {
            "variables": {},
            "nodes": [
                _n("start", "manual_trigger", 0, 0),
                _n("cool_down", "delay", 0, 120, {"duration_seconds": 5}),
                _n("approval", "wait", 0, 240, {"instructions": 'Resume with {"decision": "yes"} or "no".'}),
                _n(
                    "route",
                    "switch",
                    0,
                    360,
                    {
                        "value": "{{ input.decision }}",
                        "cases": [{"port": "approved", "value": "yes"}, {"port": "rejected", "value": "no"}],
                    },
                ),
                _n("approved", "end", -200, 480, {"output": "approved"}),
                _n("rejected", "fail", 0, 480, {"message": "Request rejected"}),
                _n("unknown", "log", 200, 480, {"level": "warning", "message": "Unknown decision"}),
            ],
            "edges": [
                _e("start", "cool_down"),
                _e("cool_down", "approval"),
                _e("approval", "route"),
                _e("route", "approved", "approved"),
                _e("route", "rejected", "rejected"),
                _e("route", "unknown", "default"),
            ],
        },
        "runs": [
            DemoRun(hours_ago=0.2, payload={"request": "New laptop", "by": "ana"}),  # waits: resume it
            DemoRun(hours_ago=3.4, payload={"request": "Conference ticket", "by": "ben"}, resume={"decision": "yes"}),
            DemoRun(hours_ago=7.8, payload={"request": "Second monitor", "by": "cem"}, resume={"decision": "no"}),
            DemoRun(hours_ago=12.5, payload={"request": "Team dinner", "by": "dora"}, cancel=True),
            DemoRun(hours_ago=30.0, payload={"request": "Book", "by": "eli"}, resume={"decision": "maybe"}),
        ],
    },
    {
        "name": "Hello world",
        "description": "The smallest schema: a manual trigger, one variable, one log line.",
        "activate": False,
        "definition": {
            "variables": {"who": "world"},
            "nodes": [
                _n("start", "manual_trigger", 0, 0),
                _n("greet", "set", 0, 120, {"assignments": [{"name": "greeting", "value": "Hello, {{ vars.who }}!"}]}),
                _n("say", "log", 0, 240, {"level": "info", "message": "{{ vars.greeting }}"}),
            ],
            "edges": [_e("start", "greet"), _e("greet", "say")],
        },
        "runs": [DemoRun(hours_ago=0.5, payload={}), DemoRun(hours_ago=6.0, payload={})],
    },
]


def _trigger_of(definition: dict[str, Any]) -> TriggerType:
    first = definition["nodes"][0]["type"]
    return {"webhook_trigger": TriggerType.WEBHOOK, "schedule_trigger": TriggerType.SCHEDULER}.get(
        first, TriggerType.MANUAL
    )


class _DemoClock:
    """The walker's clock for a run in the past: real elapsed time from `start`, plus the waits
    (back-offs, delays, a person's decision) skipped over."""

    def __init__(self, start: datetime) -> None:
        self._start, self._t0, self._skipped = start, time.monotonic(), timedelta()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0) + self._skipped

    def skip_to(self, moment: datetime) -> None:
        self._skipped += max(timedelta(), moment - self.now())


class _StubHTTP(BaseAdapter):
    """Answers the demo's HTTP calls from the run's script (requests' transport adapter)."""

    def __init__(self, answers: Sequence[tuple[int, Any]]) -> None:
        super().__init__()
        self.answers = list(answers)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if not self.answers:
            raise CommandError(f"a demo run called {request.url} more often than its script answers")
        status, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response.reason = status, HTTPStatus(status).phrase
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.raw = io.BytesIO(json.dumps(body).encode())
        response.url, response.request = str(request.url), request
        return response

    def close(self) -> None:
        pass


class _HistoryStore(MemoryStore):
    """The engine's in-memory store, remembering each timer the walk set (they fire on the demo clock)."""

    def __init__(self, clock: _DemoClock) -> None:
        super().__init__()
        self.clock = clock
        self.timers: list[tuple[datetime, Waiting]] = []  # (set at, waiting)

    def pause(self, execution_id: str, steps: Any, checkpoint: Checkpoint, waiting: Waiting) -> None:
        super().pause(execution_id, steps, checkpoint, waiting)
        if waiting.resume_at is not None:
            self.timers.append((self.clock.now(), waiting))


@contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    before = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in zip(loggers, before, strict=True):
            logger.disabled = disabled


def _previous_ticks(definition: dict[str, Any], count: int) -> list[datetime]:
    """The schedule trigger's last `count` ticks, newest first."""
    if count == 0:
        return []
    config = definition["nodes"][0]["config"]
    ticks = croniter(config["cron"], timezone.now().astimezone(ZoneInfo(config.get("timezone") or "UTC")))
    return [ticks.get_prev(datetime) for _ in range(count)]


class Command(BaseCommand):
    help = "Load demo data: a demo user, schemas of several shapes, and their history made by the engine."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="Delete the demo user's schemas first.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        email = os.environ.get("DEMO_EMAIL", "demo@schema.local")
        password = os.environ.get("DEMO_PASSWORD", "demo")
        user, created = User.objects.get_or_create(email=email, defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password(password)
            user.save()
        if options["reset"]:
            # Waiting runs too (schema_delete refuses unfinished executions): this is demo data.
            Execution.objects.filter(schema__created_by=user).delete()
            for schema in Schema.objects.filter(created_by=user):
                schema_delete(schema)
        if Schema.objects.filter(created_by=user).exists():
            self.stdout.write(f"Demo data already present for {email}; nothing to do (use --reset).")
            return
        rng = random.Random(42)
        runs = 0
        with _quiet():
            for spec in DEMO_SCHEMAS:
                schema = services.schema_create(
                    name=spec["name"], description=spec["description"], definition=spec["definition"], created_by=user
                )
                if spec["activate"]:
                    services.schema_activate(schema)
                version = SchemaVersion.objects.get(schema=schema, version=schema.version)
                ticks = _previous_ticks(version.definition, max(r.ticks_ago for r in spec["runs"]))
                for run in spec["runs"]:
                    ago = timedelta(hours=run.hours_ago)
                    start = ticks[run.ticks_ago - 1] if run.ticks_ago else timezone.now() - ago
                    self._seed_run(schema=schema, version=version, user=user, run=run, start=start, rng=rng)
                    runs += 1
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded: {len(DEMO_SCHEMAS)} schemas, {runs} executions. Sign in as {email}.")
        )

    def _seed_run(
        self, *, schema: Schema, version: SchemaVersion, user: User, run: DemoRun, start: datetime, rng: random.Random
    ) -> None:
        trigger = _trigger_of(version.definition)
        payload = {"scheduled_at": start.isoformat()} if trigger == TriggerType.SCHEDULER else run.payload
        execution, _ = execution_create(
            schema=schema,
            trigger_type=trigger,
            payload=payload,
            created_by=user if trigger == TriggerType.MANUAL else None,
            version=version,
            publish=False,
        )
        execution_id = str(execution.id)
        clock = _DemoClock(start + timedelta(milliseconds=rng.randint(5, 40)))  # the worker took it
        memory = _HistoryStore(clock)
        memory.create(version.definition, payload, execution_id=execution_id)
        stub = _StubHTTP(run.http)
        session = requests.Session()
        session.trust_env = False
        session.mount("http://", stub)
        session.mount("https://", stub)
        node_services = NodeServices(http_session=session, logger_name=NODE_LOGGER)

        def walk_until_stopped() -> WalkOutcome:
            while True:
                outcome = walk(memory, execution_id, services=node_services, clock=clock.now, rng=rng)
                if outcome.status != "paused" or outcome.resume_at is None:
                    return outcome
                clock.skip_to(outcome.resume_at + TIMER_LATENESS)
                memory.due_timers(clock.now())

        outcome = walk_until_stopped()
        if outcome.status == "paused" and (run.resume is not None or run.cancel):
            clock.skip_to(clock.now() + timedelta(minutes=run.decided_after_minutes, seconds=rng.randint(0, 59)))
            if run.cancel:
                memory.request_cancel(execution_id)
            else:
                memory.resume(execution_id, run.resume)
                walk_until_stopped()
        if stub.answers:
            raise CommandError(f"a demo run of {schema.name!r} left {len(stub.answers)} scripted HTTP answers unused")
        self._store(execution, memory, clock.now())

    @staticmethod
    def _store(execution: Execution, memory: _HistoryStore, ended: datetime) -> None:
        """Writes what the walk recorded through the worker's store, then dates it."""
        execution_id = str(execution.id)
        record = memory.get(execution_id)
        steps: list[StepRecord] = record.steps
        checkpoint = record.checkpoint
        store = DjangoExecutionStore(worker_id="seed_demo")
        if record.status == "completed":
            store.complete(execution_id, steps, checkpoint, record.result)
        elif record.status == "failed":
            store.fail(execution_id, steps, checkpoint, record.error or "", record.error_node_id)
        elif record.status == "cancelled":
            store.cancel(execution_id, steps, checkpoint)
        elif record.status == "paused" and [w["kind"] for w in waiting_entries(checkpoint)] == ["wait"]:
            store.pause(
                execution_id, steps, checkpoint, Waiting(waiting_entries(checkpoint)[0]["node_id"], "wait", None)
            )
        else:
            raise CommandError(f"a demo run ended {record.status}: only finished or waiting runs are history")
        finished = record.status != "paused"
        last = ended if record.status == "cancelled" else steps[-1].finished_at
        Execution.objects.filter(pk=execution_id).update(
            created_at=steps[0].started_at - timedelta(milliseconds=20),
            started_at=steps[0].started_at,
            finished_at=last if finished else None,
            lease_owner="",
            lease_expires_at=None,
        )
        ExecutionState.objects.filter(execution_id=execution_id).update(updated_at=last)
        for set_at, waiting in memory.timers:
            assert waiting.resume_at is not None
            timer = ExecutionTimer.objects.create(
                execution=execution,
                due_at=waiting.resume_at,
                reason=waiting.kind,
                node_id=waiting.node_id,
                status=TimerStatus.FIRED,
                fired_at=waiting.resume_at + TIMER_LATENESS,
                lateness_ms=TIMER_LATENESS.total_seconds() * 1000,
            )
            ExecutionTimer.objects.filter(pk=timer.pk).update(created_at=set_at)
