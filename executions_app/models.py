"""Execution models: the spec's `executions`, `execution_state` and `execution_steps` tables,
plus `execution_timers` (the durable timer store, the spec's `at`).

`execution_state` is the checkpoint the worker resumes from after any crash: `context` holds the
schema's variables and `checkpoint` the walker's position (outputs of finished nodes, the queue
of nodes still to run, attempts). Steps are append-only; `(execution, seq)` is unique so a step
can never be recorded twice, even by two workers racing on a duplicated message.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from schemas_app.models import Schema, SchemaVersion


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


class TriggerType(models.TextChoices):
    MANUAL = "manual", "Manual"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULER = "scheduler", "Scheduler"
    SUBFLOW = "subflow", "Sub-schema"  # started by a call_schema or for_each node of another execution


class Execution(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="executions", db_index=False)
    status = models.CharField(
        max_length=16,
        choices=ExecutionStatus.choices,
        default=ExecutionStatus.PENDING,
        db_default=ExecutionStatus.PENDING,
    )
    trigger_type = models.CharField(max_length=16, choices=TriggerType.choices)
    trigger_payload = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_column="created_by",
        related_name="executions",
    )
    error = models.TextField(null=True, blank=True)
    # Beyond the spec's columns: pinned definition, creation time, idempotency, lease, result, tracing.
    schema_version = models.ForeignKey(SchemaVersion, on_delete=models.PROTECT, related_name="executions")
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    lease_owner = models.CharField(max_length=128, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The fencing token (executions_app/locks.py): +1 at every acquisition; every write of a walk is
    # conditioned on the epoch it started with. lease_pid: the owner's PostgreSQL backend (a dead
    # backend frees the lease before it expires).
    lease_epoch = models.BigIntegerField(default=0, db_default=0)
    lease_pid = models.IntegerField(null=True, blank=True)
    # The PostgreSQL backend whose insert committed it (executions_app/sql.py writes
    # pg_backend_pid(); NULL elsewhere): the outbox relay's "its process is gone" rule reads it.
    creator_pid = models.IntegerField(null=True, blank=True, editable=False)
    rerun_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="reruns")
    # Execution policies (executions_app/admission.py, policies.py): the key this execution is
    # counted under when its schema has `max_concurrency` (None: no limit), whether it holds one of
    # the slots, why it waits for one, and the failed execution it handles (an error schema's run).
    concurrency_key = models.CharField(max_length=255, null=True, blank=True)
    slot_held = models.BooleanField(default=False, db_default=False)
    queued_reason = models.CharField(max_length=255, blank=True, default="", db_default="")
    error_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="error_handlers", db_index=False
    )
    # 0-9, higher first: the order of admission to a concurrency slot, and from HIGH_PRIORITY the
    # start message goes to the priority queue (engine/policies.py, config/queues.py).
    priority = models.PositiveSmallIntegerField(default=5, db_default=5)
    # Sub-schemas (call_schema, for_each): the execution and node that started this one, and the
    # child's key under them ("<node>:<attempt>:<item index>"), unique so a re-run never starts it twice.
    parent_execution = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children", db_index=False
    )
    parent_node_id = models.CharField(max_length=255, blank=True, default="", db_default="")
    parent_key = models.CharField(max_length=300, null=True, blank=True)

    class Meta:
        db_table = "executions"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["schema"], name="idx_executions_schema_id"),
            models.Index(fields=["status"], name="idx_executions_status"),
            models.Index(fields=["-created_at", "-id"], name="idx_executions_created"),
            models.Index(fields=["schema", "-created_at", "-id"], name="idx_executions_schema_created"),
            # Admission: the holders and the queue (priority, then FIFO) of one (schema, key), unfinished only.
            models.Index(
                fields=["schema", "concurrency_key", "-priority", "created_at", "id"],
                condition=Q(concurrency_key__isnull=False, status__in=["pending", "running", "paused"]),
                name="idx_executions_slots_priority",
            ),
            # The self-references (ON DELETE SET NULL): deleting an execution (retention) looks up who
            # points at it. Without these it read the whole table per deleted execution (the unique
            # (parent_execution, parent_key) index is partial, so it does not serve that lookup).
            models.Index(fields=["error_of"], condition=Q(error_of__isnull=False), name="idx_executions_error_of"),
            models.Index(
                fields=["parent_execution"], condition=Q(parent_execution__isnull=False), name="idx_executions_parent"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ExecutionStatus.values), name="executions_status_valid"),
            models.CheckConstraint(
                condition=Q(trigger_type__in=TriggerType.values), name="executions_trigger_type_valid"
            ),
            models.UniqueConstraint(
                fields=["schema", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="executions_unique_idempotency_key",
            ),
            models.UniqueConstraint(
                fields=["parent_execution", "parent_key"],
                condition=Q(parent_key__isnull=False),
                name="executions_unique_parent_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class ExecutionState(models.Model):
    execution = models.OneToOneField(
        Execution, on_delete=models.CASCADE, primary_key=True, db_column="execution_id", related_name="state"
    )
    current_node_id = models.CharField(max_length=255, null=True, blank=True)
    context = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())
    # Extras: the walker's checkpoint and what a paused execution waits for.
    checkpoint = models.JSONField(default=dict)
    wait_kind = models.CharField(max_length=16, blank=True, default="")
    resume_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "execution_state"

    def __str__(self) -> str:
        return f"state of {self.execution_id}"


class StepStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class ExecutionStep(models.Model):
    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="steps", db_index=False)
    node_id = models.CharField(max_length=255)
    node_type = models.CharField(max_length=64)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    error = models.TextField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Extras: position in the execution (unique: no step is ever recorded twice) and attempt number.
    seq = models.PositiveIntegerField()
    attempt = models.PositiveSmallIntegerField(default=1, db_default=1)

    class Meta:
        db_table = "execution_steps"
        ordering = ["execution", "seq"]
        indexes = [
            models.Index(fields=["execution"], name="idx_execution_steps_exec_id"),
            # Search: ?failed_node= (executions whose node failed), failed steps only.
            models.Index(fields=["node_id", "execution"], condition=Q(status="failed"), name="idx_steps_failed_node"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=StepStatus.values), name="execution_steps_status_valid"),
            models.UniqueConstraint(fields=["execution", "seq"], name="execution_steps_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} #{self.seq} ({self.status})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return round((self.finished_at - self.started_at).total_seconds() * 1000, 3)
        return None


class TimerStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    FIRED = "fired", "Fired"
    CANCELLED = "cancelled", "Cancelled"


class ExecutionTimer(models.Model):
    """A durable timer (the spec's `at`): wake `execution` at `due_at`. The row is the truth;
    the broker message published on commit is only the fast path, and the reconciler fires
    overdue rows whose message was lost. A timer fires once: firing is a conditional UPDATE."""

    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="timers")
    due_at = models.DateTimeField()
    reason = models.CharField(max_length=16)
    node_id = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(
        max_length=16, choices=TimerStatus.choices, default=TimerStatus.SCHEDULED, db_default=TimerStatus.SCHEDULED
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    fired_at = models.DateTimeField(null=True, blank=True)
    lateness_ms = models.FloatField(null=True, blank=True)
    # When the reconciler last published this timer's message again (it never sends a second copy
    # while the first may still be on its way).
    republished_at = models.DateTimeField(null=True, blank=True)
    # A `resume` wake-up carries the payload the resumed `wait` node outputs (null for the others).
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "execution_timers"
        ordering = ["due_at"]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(status="scheduled"), name="idx_timers_scheduled_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=TimerStatus.values), name="execution_timers_status_valid"),
        ]

    def __str__(self) -> str:
        return f"timer {self.id} {self.reason} @ {self.due_at:%Y-%m-%d %H:%M:%S}"


class ExecutionActionKey(models.Model):
    """The `Idempotency-Key` of an operator action on an existing execution (`resume`, `retry`),
    which starts no execution to carry it (`execute` and `rerun` store theirs on the execution they
    start): the scoped key, the execution it acted on and a digest of the request, so the same request
    repeated is answered again instead of acting twice. It goes with its execution (retention)."""

    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="action_keys")
    key = models.CharField(max_length=255, unique=True)
    request_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "execution_action_keys"

    def __str__(self) -> str:
        return f"{self.key} -> {self.execution_id}"


class ExecutionItem(models.Model):
    """One input of a `for_each` / `call_schema` node's child executions (item `index` of the node's
    attempt), saved once when the node runs: the checkpoint keeps only the loop's progress, so its
    size does not grow with the number of items (engine.store.ExecutionStore.save_items)."""

    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="items", db_index=False)
    node_id = models.CharField(max_length=255)
    attempt = models.PositiveSmallIntegerField()
    index = models.PositiveIntegerField()
    payload = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "execution_items"
        constraints = [
            models.UniqueConstraint(fields=["execution", "node_id", "attempt", "index"], name="execution_items_unique"),
        ]

    def __str__(self) -> str:
        return f"item {self.index} of {self.node_id} (attempt {self.attempt})"


class NodeTestRun(models.Model):
    """One node run on its own from the editor ("Run this node"): never an execution, never seen
    by workers, counters or the executions list. Only the latest few per schema are kept."""

    KEEP_PER_SCHEMA = 20

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="node_test_runs")
    node_id = models.CharField(max_length=255)
    node_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=[(StepStatus.SUCCESS, "Success"), (StepStatus.FAILED, "Failed")])
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    port = models.CharField(max_length=255, null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    duration_ms = models.FloatField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="node_test_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())

    class Meta:
        db_table = "node_test_runs"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["schema", "-created_at"], name="idx_node_test_runs_schema")]

    def __str__(self) -> str:
        return f"test run of {self.node_id} ({self.status})"
