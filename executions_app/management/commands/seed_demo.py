"""`manage.py seed_demo`: demo user, schemas of different shapes and executions in every status.

Mock data for the admin, the editor and screenshots. Idempotent: a second run changes nothing
(pass `--reset` to delete the demo user's schemas and start over). The executions are written
directly as history (they are not run), so it works without a worker.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from executions_app.models import (
    Execution,
    ExecutionState,
    ExecutionStatus,
    ExecutionStep,
    StepStatus,
    TriggerType,
)
from executions_app.services import execution_create
from schemas_app import services
from schemas_app.models import Schema, SchemaVersion


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
    },
    {
        "name": "Nightly report",
        "description": "Every night at 02:00 Berlin time: fetch stats and log a summary.",
        "activate": True,
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
    },
]

# Finished history is written as mock rows; the live states (pending -> running -> paused/...) come
# from one real execution per schema that the worker runs, so it can be resumed or cancelled for real.
STATUS_PLAN = [
    ExecutionStatus.COMPLETED,
    ExecutionStatus.COMPLETED,
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
]
DEMO_TRACEBACK = (
    'Traceback (most recent call last):\n  File "engine/walker.py", line 1, in run_node\n'
    "engine.errors.NodeError: HTTP 503 from https://example.com/stats.json (expected 2xx)"
)


def _trigger_of(schema: Schema) -> TriggerType:
    first = schema.definition["nodes"][0]["type"]
    return {"webhook_trigger": TriggerType.WEBHOOK, "schedule_trigger": TriggerType.SCHEDULER}.get(
        first, TriggerType.MANUAL
    )


class Command(BaseCommand):
    help = "Load demo data: a demo user, schemas of several shapes, executions in every status with steps."

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
            Schema.objects.filter(created_by=user).delete()
        if Schema.objects.filter(created_by=user).exists():
            self.stdout.write(f"Demo data already present for {email}; nothing to do (use --reset).")
            return
        rng = random.Random(42)
        for spec in DEMO_SCHEMAS:
            schema = services.schema_create(
                name=spec["name"], description=spec["description"], definition=spec["definition"], created_by=user
            )
            if spec["activate"]:
                services.schema_activate(schema)
            self._history(schema, user, rng)
            execution_create(
                schema=schema,
                trigger_type=_trigger_of(schema),
                created_by=user,
                payload={"amount": 150, "customer": "c-demo", "name": "demo"},
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded: {len(DEMO_SCHEMAS)} schemas, executions in every status. Sign in as {email}."
            )
        )

    def _history(self, schema: Schema, user: User, rng: random.Random) -> None:
        version = SchemaVersion.objects.get(schema=schema, version=schema.version)
        nodes = schema.definition["nodes"]
        trigger = _trigger_of(schema)
        now = timezone.now()
        for index, status in enumerate(STATUS_PLAN):
            created = now - timedelta(hours=index * 3 + rng.randint(0, 2), minutes=rng.randint(0, 59))
            payload = {"amount": rng.choice([20, 80, 150, 400]), "customer": f"c-{rng.randint(100, 999)}"}
            execution = Execution.objects.create(
                schema=schema,
                schema_version=version,
                status=status,
                trigger_type=trigger,
                trigger_payload=payload,
                created_by=user if trigger == TriggerType.MANUAL else None,
            )
            Execution.objects.filter(pk=execution.pk).update(created_at=created)
            done = {
                ExecutionStatus.COMPLETED: len(nodes),
                ExecutionStatus.FAILED: min(2, len(nodes)),
                ExecutionStatus.CANCELLED: 2,
            }[status]
            clock = created + timedelta(milliseconds=40)
            for seq, node in enumerate(nodes[:done]):
                failed = status == ExecutionStatus.FAILED and seq == done - 1
                duration = timedelta(milliseconds=rng.randint(1, 180))
                ExecutionStep.objects.create(
                    execution=execution,
                    seq=seq + 1,
                    node_id=node["id"],
                    node_type=node["type"],
                    input=payload if seq == 0 else {"from": nodes[seq - 1]["id"]},
                    output=None if failed else {"ok": True, "node": node["id"]},
                    status=StepStatus.FAILED if failed else StepStatus.SUCCESS,
                    error=DEMO_TRACEBACK if failed else None,
                    started_at=clock,
                    finished_at=clock + duration,
                )
                clock += duration
            Execution.objects.filter(pk=execution.pk).update(
                started_at=created,
                finished_at=clock,
                error="Node 'fetch_stats' failed: HTTP 503" if status == ExecutionStatus.FAILED else None,
                result={"ok": True} if status == ExecutionStatus.COMPLETED else None,
            )
            ExecutionState.objects.create(execution=execution, context=dict(schema.definition.get("variables") or {}))
