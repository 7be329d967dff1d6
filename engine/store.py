"""The persistence interface the walker drives, and the data it exchanges with it.

`ExecutionStore` is a `typing.Protocol`: `executions_app` implements it on Django models, and
`engine.memory_store.MemoryStore` implements it in memory for tests and the benchmark. Each write
method is one atomic unit: append `steps` (in `seq` order) and save `checkpoint`, plus the status
change it names. `Checkpoint` is plain JSON so it fits `execution_state.checkpoint` as is.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

Checkpoint = dict[str, Any]
"""JSON saved after every batch of steps (version 2; version 1 is read too, see `engine.walker`):

{"v": 2,
 "vars": {...},                  # the execution context (mirror it into execution_state.context)
 "outputs": {node_id: output},   # for nodes.<id>.output
 "queue": [{"node_id", "input", "attempt", "tries"}],  # branches ready to run a node, head first
 "scheduled": [node_id, ...],    # nodes ever queued: each node runs at most once
 "joins": {node_id: {"n": edges resolved, "from": [arrived predecessor ids], "fired": bool}},
 "seq": 12,                      # number of steps recorded so far (next step gets seq 13)
 "last_output": ...,             # result when the flow ends without an `end` node
 "result": ...,                  # set when an `end` node completed the execution
 "waiting": [{"node_id", "kind": "delay|wait|retry|children", "resume_at": iso|null, "started_at": iso,
              "attempt", "input", "output", "resumed": bool, "payload": ..., "item": {...}}],
                                 # one entry per paused branch (`item`: a retry's queue item); a
                                 # `children` entry adds "spawn", "next", "done", "failed", "total",
                                 # "tries" (its child executions, see start_children; the items
                                 # themselves are kept apart, see save_items), and has "input_of":
                                 # node id instead of "input" when its input is that node's output
 "failed": null | {"node_id", "attempt", "error", "item": {...queue item...}}}

Version 1 had `"waiting": null | {...}` (one paused branch; a retry's item stayed at the queue's
head) and no `joins` (a join ran on its first arrival).
"""

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})


class OwnershipLost(Exception):
    """Raised by a store once another worker took the execution over (its fencing token moved on):
    the walk stops at once and writes nothing more. Never a node's error: the walker re-raises it."""


@dataclass(frozen=True)
class ExecutionSnapshot:
    execution_id: str
    status: str  # pending | running | paused | completed | failed | cancelled
    definition: dict[str, Any]  # the pinned definition (schema version the execution started with)
    trigger_payload: Any
    checkpoint: Checkpoint  # {} before the first step; a fresh object the walker may mutate


@dataclass(frozen=True)
class StepRecord:
    seq: int  # 1-based, unique per execution: a store may enforce (execution_id, seq) uniqueness
    node_id: str
    node_type: str
    status: str  # success | failed
    attempt: int
    input: Any
    output: Any
    error: str | None
    started_at: datetime
    finished_at: datetime
    duration_ms: float


@dataclass(frozen=True)
class Waiting:
    node_id: str
    kind: str  # delay | wait | retry
    resume_at: datetime | None  # None for `wait`: only the API resumes it

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "kind": self.kind,
            "resume_at": self.resume_at.isoformat() if self.resume_at else None,
        }


@dataclass(frozen=True)
class ChildResult:
    """A finished child execution of a `call_schema` / `for_each` node (`index`: its item)."""

    index: int
    execution_id: str
    status: str  # completed | failed | cancelled
    result: Any
    error: str | None


class ExecutionStore(Protocol):
    def load(self, execution_id: str) -> ExecutionSnapshot:
        """The execution's pinned definition, status, trigger payload and last checkpoint."""
        ...

    def is_cancelled(self, execution_id: str) -> bool:
        """True once a cancel was requested; checked before every step (make it cheap)."""
        ...

    def save_checkpoint(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        """Atomically: append `steps`, save `checkpoint`, status → running (never over a terminal status)."""
        ...

    def pause(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, waiting: Waiting) -> None:
        """Atomically: append steps, save checkpoint, status → paused, and when `waiting.resume_at`
        is set schedule a timer (execution_id, due_at=resume_at, reason=waiting.kind) replacing any
        pending timer of this execution; the timer re-runs the walker when due."""
        ...

    def complete(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, result: Any) -> None:
        """Atomically: append steps, save checkpoint, status → completed with `result`, finished_at."""
        ...

    def fail(
        self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, error: str, node_id: str | None
    ) -> None:
        """Atomically: append steps, save checkpoint, status → failed with `error`, finished_at."""
        ...

    def cancel(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        """Atomically: append steps, save checkpoint, status → cancelled, finished_at, drop timers."""
        ...

    def resumes(self, execution_id: str, node_ids: Sequence[str]) -> list[tuple[str, Any]]:
        """The resumes recorded for these waiting `wait` nodes, oldest first: (node id, payload).
        The walker applies them to its checkpoint (idempotent: a wait that already went on ignores
        its resume), so a resume recorded while a walk ran is never lost. Called only when a `wait`
        waits, at the start of a walk and before it pauses."""
        ...

    # -- child executions (call_schema, for_each) ------------------------------------------------
    def start_children(
        self, execution_id: str, *, node_id: str, attempt: int, spawn: dict[str, Any], start: int, inputs: list[Any]
    ) -> list[str]:
        """Starts one child execution per input (item `start + i`) of `spawn["schema_id"]` at
        `spawn["version"]`, linked to this execution and node, and returns their ids. Idempotent per
        (node, attempt, item): a child started before is returned, never started twice. Raises
        `NodeError` when the schema may not be run (unknown, not allowed, too deep, too many items).
        When a child finishes, the store wakes this execution (like a due timer)."""
        ...

    def save_items(self, execution_id: str, *, node_id: str, attempt: int, inputs: list[Any]) -> None:
        """Keeps the inputs of this node's attempt's children (item `i` is `inputs[i]`), once and
        outside the checkpoint, so a 10,000-item loop does not rewrite its list at every checkpoint.
        Idempotent: saving the same attempt again (a walk repeated after a crash) keeps what is there.
        Raises `NodeError` when there are more than the store allows (`SCHEMA_MAX_ITEMS`)."""
        ...

    def load_items(self, execution_id: str, *, node_id: str, attempt: int, start: int, count: int) -> list[Any]:
        """The saved inputs `start` .. `start + count - 1` of this node's attempt, in order."""
        ...

    def children_progress(self, execution_id: str, node_id: str, attempt: int) -> tuple[int, int]:
        """(finished, failed) children of this node's attempt; cancelled ones count as failed."""
        ...

    def children_results(self, execution_id: str, node_id: str, attempt: int) -> list[ChildResult]:
        """Every finished child of this node's attempt, in item order."""
        ...


def waiting_entries(checkpoint: Checkpoint) -> list[dict[str, Any]]:
    """The paused branches of a checkpoint of any version (the stored objects, not copies)."""
    waiting = checkpoint.get("waiting")
    if not waiting:
        return []
    if isinstance(waiting, dict):  # version 1: one paused branch
        return [waiting]
    return list(waiting)


def current_node_id(checkpoint: Checkpoint) -> str | None:
    """The node an execution is at: the one it failed at, will run next, or waits on."""
    failed = checkpoint.get("failed")
    if failed:
        return str(failed["node_id"])
    waiting = waiting_entries(checkpoint)
    if waiting and checkpoint.get("v", 1) == 1:
        return str(waiting[0]["node_id"])
    queue = checkpoint.get("queue") or []
    if queue:
        return str(queue[0]["node_id"])
    return str(waiting[0]["node_id"]) if waiting else None


def waiting_info(checkpoint: Checkpoint, resumed: Collection[str] = ()) -> list[dict[str, Any]]:
    """The `waiting` field of the execution API (docs/contracts.md): each paused branch, in the
    order they paused; a `wait` already resumed (its branch about to continue) is not listed, nor
    one whose resume is recorded (`resumed`) but not yet applied by a walk."""
    entries = []
    for w in waiting_entries(checkpoint):
        if w.get("resumed") or (w["kind"] == "wait" and w["node_id"] in resumed):
            continue
        entry = {"node_id": w["node_id"], "kind": w["kind"], "resume_at": w.get("resume_at")}
        if w["kind"] == "children":  # call_schema / for_each: how far the children are
            entry["progress"] = {
                "total": w["total"],
                "started": w["next"],
                "finished": w["done"],
                "failed": w["failed"],
            }
        entries.append(entry)
    return entries
