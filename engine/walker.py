"""The durable graph walker: runs an execution from its last checkpoint until it ends or pauses.

`walk(store, execution_id)` is what the worker task calls (after taking the lease). It
walks many steps in one call and checkpoints through the `ExecutionStore`:

* Steps of pure nodes are batched; a checkpoint is flushed before and right after every
  side-effecting node and when the walk stops, so a crash loses at most re-runnable pure work and
  never re-records a success step. A side-effecting node interrupted by a crash runs again with
  the same idempotency key `"{execution_id}:{node_id}:{attempt}"`.
* Branching follows the edges of the port a node chose. Each node runs at most once per
  execution: the first arrival schedules it (FIFO), later arrivals are dropped. A join therefore
  runs when first reached, with that predecessor's output as `input`; every finished node's output
  is visible as `nodes.<id>.output`. Cycles are rejected by validation.
* `delay`, `wait` and retry back-off pause the whole execution (other queued branches continue
  after the resume); the store schedules the timer in the same transaction.
* Node errors retry per the node's policy, then follow the `error` port (`on_error: error`) or
  fail the execution. A failed step records the node's message as its `error` and the type and
  details as its output (`engine.errors.step_failure`); an exception that is not an `EngineError`
  is a bug of ours: a generic sentence, its traceback only under the staff-only output key.
  Reaching an `end` node completes the execution at once with its output.
* Cancellation is checked before every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from engine.errors import DefinitionError, NodeError, fail_node_output, step_failure
from engine.graph import ERROR_PORT, Graph, NodeSpec
from engine.limits import MAX_EXECUTION_BYTES, MAX_STEP_BYTES, ValueTooLarge, json_safe, safe_text
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeServices, NodeType
from engine.retry import RetryPolicy
from engine.store import TERMINAL_STATUSES, Checkpoint, ExecutionSnapshot, ExecutionStore, StepRecord, Waiting

CHECKPOINT_VERSION = 1


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WalkOutcome:
    """What one call did. `running` means the step budget ran out: publish the execution again."""

    status: str  # completed | failed | paused | cancelled | running
    steps: int  # steps recorded by this call
    resume_at: datetime | None = None
    error: str | None = None


def walk(
    store: ExecutionStore,
    execution_id: str,
    *,
    services: NodeServices | None = None,
    clock: Callable[[], datetime] = utc_now,
    node_types: dict[str, NodeType] | None = None,
    max_steps: int = 10_000,
    batch_size: int = 200,
    rng: Random | None = None,
) -> WalkOutcome:
    """Continues `execution_id` from its checkpoint. Idempotent for finished or not-yet-due executions."""
    walk = _Walk(
        store=store,
        execution_id=execution_id,
        services=services or NodeServices(),
        clock=clock,
        node_types=node_types or NODE_TYPES,
        max_steps=max_steps,
        batch_size=batch_size,
        rng=rng,
    )
    return walk.run()


def initial_checkpoint(graph: Graph, trigger_node_id: str, trigger_payload: Any) -> Checkpoint:
    return {
        "v": CHECKPOINT_VERSION,
        "vars": dict(graph.variables),
        "outputs": {},
        "queue": [{"node_id": trigger_node_id, "input": trigger_payload, "attempt": 1, "tries": 1}],
        "scheduled": [trigger_node_id],
        "seq": 0,
        "last_output": None,
        "result": None,
        "waiting": None,
        "failed": None,
    }


class _Walk:
    def __init__(
        self,
        *,
        store: ExecutionStore,
        execution_id: str,
        services: NodeServices,
        clock: Callable[[], datetime],
        node_types: dict[str, NodeType],
        max_steps: int,
        batch_size: int,
        rng: Random | None,
    ) -> None:
        self.store = store
        self.execution_id = execution_id
        self.services = services
        self.clock = clock
        self.node_types = node_types
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.rng = rng
        self.pending: list[StepRecord] = []
        self.recorded = 0
        self.state: Checkpoint = {}
        self.scheduled: set[str] = set()

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> WalkOutcome:
        snapshot = self.store.load(self.execution_id)
        if snapshot.status in TERMINAL_STATUSES:
            return WalkOutcome(snapshot.status, 0)
        try:
            self.graph = Graph.from_dict(snapshot.definition)
            self.state = snapshot.checkpoint or self._initial(snapshot)
        except DefinitionError as exc:
            message = f"invalid definition: {exc}"
            self.store.fail(self.execution_id, [], snapshot.checkpoint, message, None)
            return WalkOutcome("failed", 0, error=message)
        self.trigger = snapshot.trigger_payload
        self.scheduled = set(self.state.get("scheduled", []))
        waiting = self.state.get("waiting")
        if waiting:
            early = self._leave_waiting(waiting)
            if early is not None:
                return early
        return self._loop()

    def _initial(self, snapshot: ExecutionSnapshot) -> Checkpoint:
        triggers = self.graph.trigger_ids(lambda t: bool(self.node_types.get(t) and self.node_types[t].is_trigger))
        if not triggers:
            raise DefinitionError("the definition has no trigger node")
        return initial_checkpoint(self.graph, triggers[0], snapshot.trigger_payload)

    def _leave_waiting(self, waiting: dict[str, Any]) -> WalkOutcome | None:
        """Continues past a pause when it is over; returns an outcome when it is not."""
        kind = waiting["kind"]
        if kind == "wait":
            if not waiting.get("resumed"):
                return WalkOutcome("paused", 0)
            self._finish_paused_node(waiting, waiting.get("payload"))
            return None
        resume_at = datetime.fromisoformat(waiting["resume_at"])
        if resume_at > self.clock():
            # Early or duplicated wake-up: re-arm the timer (the store replaces it) and stop.
            self.store.pause(self.execution_id, [], self.state, Waiting(waiting["node_id"], kind, resume_at))
            return WalkOutcome("paused", 0, resume_at=resume_at)
        if kind == "delay":
            self._finish_paused_node(waiting, waiting.get("output"))
        else:  # retry: the node is still at the head of the queue with its next attempt number
            self.state["waiting"] = None
        return None

    def _finish_paused_node(self, waiting: dict[str, Any], output: Any) -> None:
        node = self.graph.node(waiting["node_id"])
        self.state["waiting"] = None
        started = datetime.fromisoformat(waiting["started_at"])
        self._record(
            node,
            "success",
            attempt=int(waiting.get("attempt", 1)),
            input_=waiting.get("input"),
            output=output,
            error=None,
            started=started,
            t0=time.perf_counter() - (self.clock() - started).total_seconds(),
        )
        self._succeeded(node, output, "out")

    # -- main loop ---------------------------------------------------------------------------
    def _loop(self) -> WalkOutcome:
        queue: list[dict[str, Any]] = self.state["queue"]
        while True:
            if not queue:
                return self._complete(self.state.get("last_output"))
            if self.recorded + len(self.pending) >= self.max_steps:
                self._flush()
                return WalkOutcome("running", self.recorded)
            if self.store.is_cancelled(self.execution_id):
                steps = self._take_pending()
                self.store.cancel(self.execution_id, steps, self._checkpoint())
                return WalkOutcome("cancelled", self.recorded)
            item = queue[0]
            node = self.graph.node(item["node_id"])
            node_type = self.node_types.get(node.type)
            if node_type is not None and node_type.side_effects:
                self._flush()  # everything before a side effect is durable first
            started, t0 = self.clock(), time.perf_counter()
            try:
                if node_type is None:
                    raise NodeError(f"unknown node type {node.type!r}")
                result = self._bounded(node, node_type.run(self._context(node, item, started)))
            except Exception as exc:  # noqa: BLE001 - any node failure is a business result (retry/error port)
                outcome = self._node_error(node, item, exc, started, t0)
                if outcome is not None:
                    return outcome
                continue
            outcome = self._node_result(node, item, result, started, t0)
            if outcome is not None:
                return outcome
            if (node_type is not None and node_type.side_effects) or len(self.pending) >= self.batch_size:
                self._flush()

    def _bounded(self, node: NodeSpec, result: NodeResult) -> NodeResult:
        """Makes what a node returns storable (jsonb-safe) and bounded (see `engine.limits`):
        an oversized output fails the step with a clear error instead of bloating the checkpoint."""
        try:
            result.output, size = json_safe(result.output, limit=MAX_STEP_BYTES, what=f"the output of node {node.id!r}")
            if result.recorded_input is not None:
                result.recorded_input, _ = json_safe(
                    result.recorded_input, limit=MAX_STEP_BYTES, what=f"the input of node {node.id!r}"
                )
            if result.set_vars:
                result.set_vars, _ = json_safe(result.set_vars)
                json_safe(
                    {**self.state["vars"], **result.set_vars}, limit=MAX_STEP_BYTES, what="the execution variables"
                )
            total = int(self.state.get("stored_bytes", 0)) + size
            if total > MAX_EXECUTION_BYTES:
                raise ValueTooLarge(
                    f"the outputs kept by this execution (with node {node.id!r})", total, MAX_EXECUTION_BYTES
                )
        except ValueTooLarge as exc:
            raise NodeError(f"{exc}; return less data (e.g. pick fields with an expression)") from None
        if result.fail_message is not None:
            result.fail_message = safe_text(result.fail_message)
        self.state["stored_bytes"] = total
        return result

    def _context(self, node: NodeSpec, item: dict[str, Any], now: datetime) -> NodeContext:
        attempt = int(item["attempt"])
        return NodeContext(
            execution_id=self.execution_id,
            node=node,
            attempt=attempt,
            idempotency_key=f"{self.execution_id}:{node.id}:{attempt}",
            input=item.get("input"),
            vars=self.state["vars"],
            trigger=self.trigger,
            outputs=self.state["outputs"],
            now=now,
            services=self.services,
        )

    def _node_result(
        self, node: NodeSpec, item: dict[str, Any], result: NodeResult, started: datetime, t0: float
    ) -> WalkOutcome | None:
        queue = self.state["queue"]
        recorded_input = result.recorded_input if result.recorded_input is not None else item.get("input")
        if result.fail_message is not None:
            self._record(
                node,
                "failed",
                attempt=item["attempt"],
                input_=recorded_input,
                output=fail_node_output(result.fail_message),
                error=result.fail_message,
                started=started,
                t0=t0,
            )
            queue.pop(0)
            self.state["failed"] = {
                "node_id": node.id,
                "attempt": item["attempt"],
                "error": result.fail_message,
                "item": item,
            }
            return self._fail(result.fail_message, node.id)
        if result.pause_kind is not None:
            queue.pop(0)
            self.state["waiting"] = {
                "node_id": node.id,
                "kind": result.pause_kind,
                "resume_at": result.resume_at.isoformat() if result.resume_at else None,
                "started_at": started.isoformat(),
                "attempt": item["attempt"],
                "input": recorded_input,
                "output": result.output,
                "resumed": False,
            }
            return self._pause(Waiting(node.id, result.pause_kind, result.resume_at))
        self._record(
            node,
            "success",
            attempt=item["attempt"],
            input_=recorded_input,
            output=result.output,
            error=None,
            started=started,
            t0=t0,
        )
        queue.pop(0)
        if result.set_vars:
            self.state["vars"].update(result.set_vars)
        if result.end:
            self.state["outputs"][node.id] = result.output
            self.state["result"] = result.output
            return self._complete(result.output)
        self._succeeded(node, result.output, result.port)
        return None

    def _node_error(
        self, node: NodeSpec, item: dict[str, Any], exc: Exception, started: datetime, t0: float
    ) -> WalkOutcome | None:
        failure = step_failure(exc, clean=safe_text)
        message = failure.message
        self._record(
            node,
            "failed",
            attempt=item["attempt"],
            input_=item.get("input"),
            output=json_safe(failure.output)[0],
            error=message,
            started=started,
            t0=t0,
        )
        policy = RetryPolicy.from_dict(node.retry)
        if item["tries"] < policy.max_attempts:
            delay = policy.delay_seconds(item["tries"], self.rng)
            item["attempt"] += 1
            item["tries"] += 1
            if delay <= 0:
                return None  # retry inline; the side-effect flush records the failed step first
            resume_at = self.clock() + timedelta(seconds=delay)
            self.state["waiting"] = {
                "node_id": node.id,
                "kind": "retry",
                "resume_at": resume_at.isoformat(),
                "started_at": started.isoformat(),
                "attempt": item["attempt"],
            }
            return self._pause(Waiting(node.id, "retry", resume_at))
        self.state["queue"].pop(0)
        if node.on_error == "error":
            # The flow sees what the owner sees: the message (never an internal error's own text).
            details = exc.details if isinstance(exc, NodeError) else {}
            output, _ = json_safe({"error": message, "type": type(exc).__name__, **details})
            self._succeeded(node, output, ERROR_PORT)
            return None
        self.state["failed"] = {"node_id": node.id, "attempt": item["attempt"], "error": message, "item": item}
        return self._fail(f"node {node.id!r} failed: {message}", node.id)

    def _succeeded(self, node: NodeSpec, output: Any, port: str | None) -> None:
        self.state["outputs"][node.id] = output
        self.state["last_output"] = output
        if port is None:
            return
        for target in self.graph.successors(node.id, port):
            if target not in self.scheduled:
                self.scheduled.add(target)
                self.state["queue"].append({"node_id": target, "input": output, "attempt": 1, "tries": 1})

    # -- persistence -------------------------------------------------------------------------
    def _record(
        self,
        node: NodeSpec,
        status: str,
        *,
        attempt: int,
        input_: Any,
        output: Any,
        error: str | None,
        started: datetime,
        t0: float,
    ) -> None:
        self.state["seq"] = int(self.state.get("seq", 0)) + 1
        duration = max(0.0, (time.perf_counter() - t0) * 1000)
        self.pending.append(
            StepRecord(
                seq=self.state["seq"],
                node_id=node.id,
                node_type=node.type,
                status=status,
                attempt=int(attempt),
                input=input_,
                output=output,
                error=error,
                started_at=started,
                finished_at=started + timedelta(milliseconds=duration),
                duration_ms=round(duration, 3),
            )
        )

    def _checkpoint(self) -> Checkpoint:
        self.state["scheduled"] = sorted(self.scheduled)
        return self.state

    def _take_pending(self) -> list[StepRecord]:
        steps, self.pending = self.pending, []
        self.recorded += len(steps)
        return steps

    def _flush(self) -> None:
        if self.pending:
            steps = self.pending
            self.store.save_checkpoint(self.execution_id, steps, self._checkpoint())
            # Only after the store committed: a raising store leaves them pending (never lost).
            self.pending = []
            self.recorded += len(steps)

    def _pause(self, waiting: Waiting) -> WalkOutcome:
        self.store.pause(self.execution_id, self.pending, self._checkpoint(), waiting)
        self._take_pending()
        return WalkOutcome("paused", self.recorded, resume_at=waiting.resume_at)

    def _complete(self, result: Any) -> WalkOutcome:
        self.store.complete(self.execution_id, self.pending, self._checkpoint(), result)
        self._take_pending()
        return WalkOutcome("completed", self.recorded)

    def _fail(self, error: str, node_id: str | None) -> WalkOutcome:
        self.store.fail(self.execution_id, self.pending, self._checkpoint(), error, node_id)
        self._take_pending()
        return WalkOutcome("failed", self.recorded, error=error)
