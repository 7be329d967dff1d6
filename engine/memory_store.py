"""An in-memory `ExecutionStore` for unit tests, scripts and the benchmark.

Checkpoints and definitions are stored as JSON text, like the database does, so anything that is
not JSON fails here too and the walker can never share mutable state with the store. `crash_at`
simulates a process dying on the N-th write, either before the write commits or just after it.
It also offers the operations the API performs (create, resume, retry, cancel, timers).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.control import prepare_retry, resume_target
from engine.errors import NodeError
from engine.store import TERMINAL_STATUSES, Checkpoint, ChildResult, ExecutionSnapshot, StepRecord, Waiting


class SimulatedCrash(RuntimeError):
    """Raised by `MemoryStore` to imitate a worker dying during a write."""


@dataclass
class StoredExecution:
    execution_id: str
    definition_json: str
    trigger_payload: Any
    status: str = "pending"
    checkpoint_json: str = "{}"
    steps: list[StepRecord] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    error_node_id: str | None = None
    cancel_requested: bool = False
    timer: tuple[datetime, str] | None = None  # (due_at, reason): one pending timer per execution
    parent: tuple[str, str, int, int] | None = None  # (parent execution, node, attempt, item index)
    resumes: list[tuple[str, Any]] = field(default_factory=list)  # recorded (wait node, payload)

    @property
    def checkpoint(self) -> Checkpoint:
        loaded: Checkpoint = json.loads(self.checkpoint_json)
        return loaded


class MemoryStore:
    def __init__(self) -> None:
        self.executions: dict[str, StoredExecution] = {}
        self._ids = itertools.count(1)
        self.writes = 0
        self.crash_at: int | None = None  # crash on this write number (1-based)
        self.crash_after_commit = False  # True: the write is applied, then the "process" dies
        self.schemas: dict[str, dict[str, Any]] = {}  # schema id → definition, for child executions
        self.children: dict[tuple[str, str], str] = {}  # (parent id, "node:attempt:index") → child id
        self.woken: list[str] = []  # parents woken by a finished child, in order
        self.items: dict[tuple[str, str, int], list[Any]] = {}  # (execution, node, attempt) → child inputs
        self.item_reads = 0
        self.max_call_depth = 10
        self.max_items = 10_000

    # -- API-side operations -----------------------------------------------------------------
    def create(
        self, definition: dict[str, Any], trigger_payload: Any = None, *, execution_id: str | None = None
    ) -> str:
        execution_id = execution_id or f"exec-{next(self._ids)}"
        self.executions[execution_id] = StoredExecution(execution_id, json.dumps(definition), trigger_payload)
        return execution_id

    def get(self, execution_id: str) -> StoredExecution:
        return self.executions[execution_id]

    def request_cancel(self, execution_id: str) -> None:
        record = self.executions[execution_id]
        if record.status in ("pending", "paused"):
            record.status, record.timer = "cancelled", None
            if record.parent is not None:
                self.woken.append(record.parent[0])
        elif record.status == "running":
            record.cancel_requested = True

    def resume(self, execution_id: str, payload: Any, node_id: str | None = None) -> None:
        """Records a resume (as the API does, also while a walk runs); the next walk applies it."""
        record = self.executions[execution_id]
        recorded = [n for n, _ in record.resumes]
        target = resume_target(self.load(execution_id), node_id, recorded)
        record.resumes.append((target, json.loads(json.dumps(payload))))
        if record.status == "paused":
            record.status = "running"

    def resumes(self, execution_id: str, node_ids: Any) -> list[tuple[str, Any]]:
        wanted = set(node_ids)
        return [(n, p) for n, p in self.executions[execution_id].resumes if n in wanted]

    def retry(self, execution_id: str) -> None:
        record = self.executions[execution_id]
        record.checkpoint_json = json.dumps(prepare_retry(self.load(execution_id)))
        record.status, record.error, record.error_node_id = "running", None, None

    def due_timers(self, now: datetime) -> list[str]:
        """Fires due timers (each once) and returns their execution ids."""
        due = [r.execution_id for r in self.executions.values() if r.timer and r.timer[0] <= now]
        for execution_id in due:
            self.executions[execution_id].timer = None
        return due

    def add_schema(self, schema_id: str, definition: dict[str, Any]) -> None:
        self.schemas[schema_id] = definition

    # -- ExecutionStore: child executions ------------------------------------------------------
    def start_children(
        self, execution_id: str, *, node_id: str, attempt: int, spawn: dict[str, Any], start: int, inputs: list[Any]
    ) -> list[str]:
        definition = self.schemas.get(str(spawn["schema_id"]))
        if definition is None:
            raise NodeError(f"schema {spawn['schema_id']!r} does not exist or may not be run by this schema's owner")
        if int(spawn.get("total", len(inputs))) > self.max_items:
            raise NodeError(f"{spawn['total']} items: at most {self.max_items} are allowed (SCHEMA_MAX_ITEMS)")
        depth, current = 1, self.executions[execution_id]
        while current.parent is not None:
            depth, current = depth + 1, self.executions[current.parent[0]]
        if depth >= self.max_call_depth:
            raise NodeError(f"sub-schemas nested deeper than {self.max_call_depth} levels (SCHEMA_MAX_CALL_DEPTH)")
        ids = []
        for offset, payload in enumerate(inputs):
            key = (execution_id, f"{node_id}:{attempt}:{start + offset}")
            if key not in self.children:
                child = self.create(definition, payload)
                self.executions[child].parent = (execution_id, node_id, attempt, start + offset)
                self.children[key] = child
            ids.append(self.children[key])
        return ids

    def save_items(self, execution_id: str, *, node_id: str, attempt: int, inputs: list[Any]) -> None:
        if len(inputs) > self.max_items:
            raise NodeError(f"{len(inputs)} items: at most {self.max_items} are allowed (SCHEMA_MAX_ITEMS)")
        saved = self.items.setdefault((execution_id, node_id, attempt), [])
        saved.extend(json.loads(json.dumps(inputs[len(saved) :])))  # kept: what a repeated walk saved first

    def load_items(self, execution_id: str, *, node_id: str, attempt: int, start: int, count: int) -> list[Any]:
        self.item_reads += count
        return json.loads(json.dumps(self.items[(execution_id, node_id, attempt)][start : start + count]))

    def _children_of(self, execution_id: str, node_id: str, attempt: int) -> list[StoredExecution]:
        found = [
            r
            for r in self.executions.values()
            if r.parent is not None and r.parent[:3] == (execution_id, node_id, attempt)
        ]
        return sorted(found, key=lambda r: r.parent[3] if r.parent else 0)

    def children_progress(self, execution_id: str, node_id: str, attempt: int) -> tuple[int, int]:
        finished = [r for r in self._children_of(execution_id, node_id, attempt) if r.status in TERMINAL_STATUSES]
        return len(finished), sum(1 for r in finished if r.status != "completed")

    def children_results(self, execution_id: str, node_id: str, attempt: int) -> list[ChildResult]:
        return [
            ChildResult(r.parent[3] if r.parent else 0, r.execution_id, r.status, r.result, r.error)
            for r in self._children_of(execution_id, node_id, attempt)
            if r.status in TERMINAL_STATUSES
        ]

    # -- ExecutionStore ----------------------------------------------------------------------
    def load(self, execution_id: str) -> ExecutionSnapshot:
        record = self.executions[execution_id]
        return ExecutionSnapshot(
            execution_id, record.status, json.loads(record.definition_json), record.trigger_payload, record.checkpoint
        )

    def is_cancelled(self, execution_id: str) -> bool:
        record = self.executions[execution_id]
        return record.cancel_requested or record.status == "cancelled"

    def save_checkpoint(self, execution_id: str, steps: Any, checkpoint: Checkpoint) -> None:
        self._write(execution_id, steps, checkpoint, "running")

    def pause(self, execution_id: str, steps: Any, checkpoint: Checkpoint, waiting: Waiting) -> None:
        def extra(record: StoredExecution) -> None:
            record.timer = (waiting.resume_at, waiting.kind) if waiting.resume_at else None

        self._write(execution_id, steps, checkpoint, "paused", extra)

    def complete(self, execution_id: str, steps: Any, checkpoint: Checkpoint, result: Any) -> None:
        def extra(record: StoredExecution) -> None:
            record.result = result

        self._write(execution_id, steps, checkpoint, "completed", extra)

    def fail(self, execution_id: str, steps: Any, checkpoint: Checkpoint, error: str, node_id: str | None) -> None:
        def extra(record: StoredExecution) -> None:
            record.error, record.error_node_id = error, node_id

        self._write(execution_id, steps, checkpoint, "failed", extra)

    def cancel(self, execution_id: str, steps: Any, checkpoint: Checkpoint) -> None:
        def extra(record: StoredExecution) -> None:
            record.timer = None

        self._write(execution_id, steps, checkpoint, "cancelled", extra)

    def _write(self, execution_id: str, steps: Any, checkpoint: Checkpoint, status: str, extra: Any = None) -> None:
        self.writes += 1
        crash = self.crash_at is not None and self.writes == self.crash_at
        if crash and not self.crash_after_commit:
            raise SimulatedCrash(f"crash before write {self.writes}")
        record = self.executions[execution_id]
        encoded = json.dumps(checkpoint)  # serialise first: a non-JSON value must not half-apply
        if record.steps and steps and steps[0].seq != record.steps[-1].seq + 1:
            raise AssertionError(f"step seq gap: {record.steps[-1].seq} then {steps[0].seq}")
        record.steps.extend(steps)
        record.checkpoint_json = encoded
        ended = status in TERMINAL_STATUSES and record.status not in TERMINAL_STATUSES
        if record.status not in TERMINAL_STATUSES or status in TERMINAL_STATUSES:
            record.status = status
        if extra is not None:
            extra(record)
        if ended and record.parent is not None:
            self.woken.append(record.parent[0])  # the child's end wakes its parent (once)
        if crash:
            raise SimulatedCrash(f"crash after write {self.writes}")
